#!/usr/bin/env node
// `npm run bench` (after `tsc -b`): the thin launcher of packages/bench (its cli.ts has the flags;
// scripts/bench/README.md the workloads and what is measured). Exit code 1 when a run failed.
import { main } from '../../packages/bench/dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
