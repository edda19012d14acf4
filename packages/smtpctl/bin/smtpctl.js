#!/usr/bin/env node
// One executable for smtpctl, sendmail, send-mail, mailq and newaliases: the name it was run as
// (a symlink such as /usr/sbin/sendmail -> this file) chooses the program, as OpenSMTPD's smtpctl.
import { basename } from 'node:path';
import { main } from '../dist/cli.js';
const name = basename(process.argv[1] ?? 'smtpctl').replace(/\.js$/, '');
process.exitCode = await main(name, process.argv.slice(2));
