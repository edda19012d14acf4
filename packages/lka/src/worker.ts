import { runActor } from '@tsmtpd/actor';
import { createLka } from './lka.js';
runActor('lka', createLka);
