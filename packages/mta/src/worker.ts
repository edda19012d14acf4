import { runActor } from '@tsmtpd/actor';
import { createMta } from './mta.js';
runActor('mta', createMta);
