import { runActor } from '@tsmtpd/actor';
import { createControl } from './control.js';
runActor('control', createControl);
