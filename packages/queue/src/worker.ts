import { runActor } from '@tsmtpd/actor';
import { createQueue } from './queue.js';
runActor('queue', createQueue);
