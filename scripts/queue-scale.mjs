#!/usr/bin/env node
// Queue scale (after `npx tsc -b`): the thin launcher of packages/bench's queue-scale workload,
// the same as `npm run bench -- --queue-scale [N]`. Usage:
//   node scripts/queue-scale.mjs [--count N] [--burst M | --no-burst] [--no-load] [--keep]
import { main } from '../packages/bench/dist/cli.js';

const argv = process.argv.slice(2);
const i = argv.indexOf('--count');
const count = i >= 0 ? argv.splice(i, 2)[1] : undefined;
main(['--queue-scale', ...(count ? [count] : []), ...argv]).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`queue-scale: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
