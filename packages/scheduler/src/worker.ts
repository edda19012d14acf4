import { runActor } from '@tsmtpd/actor';
import { createScheduler } from './scheduler.js';
runActor('scheduler', createScheduler);
