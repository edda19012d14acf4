#!/usr/bin/env node
import { main } from '../dist/cli.js';
// Exit explicitly: once main has stopped every actor, nothing else may hold the process.
process.exit(await main(process.argv.slice(2)));
