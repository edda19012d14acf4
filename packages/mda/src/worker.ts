import { runActor } from '@tsmtpd/actor';
import { createMda } from './mda.js';
runActor('mda', createMda);
