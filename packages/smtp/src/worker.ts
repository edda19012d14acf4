import { runActor } from '@tsmtpd/actor';
import { createSmtp } from './smtp.js';
runActor('smtp', createSmtp);
