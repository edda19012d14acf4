// The statement loop: reads statements until the end of input, dispatching on the first token,
// handling macros and `include`; on an error it records `file:line: message` and resumes at the
// next statement, so every error of the file is reported (as OpenSMTPD's `grammar error '\n'`).
import { Cursor, Fail, type StmtPos } from './cursor.js';
import { MAX_INCLUDE_DEPTH } from './grammar.js';
import { parseAction } from './parse-action.js';
import { parseFilter } from './parse-filter.js';
import {
  parseAdmd, parseBounce, parseCa, parseMda, parseMta, parsePki, parseProc, parseQueue,
  parseScheduler, parseSmtp, parseSrs, parseTable,
} from './parse-globals.js';
import { parseListen } from './parse-listen.js';
import { parseMatch } from './parse-match.js';
import { parseMetrics } from './parse-metrics.js';
import type { Draft } from './state.js';
import { SmtpOptionsSchema } from './model-options.js';

type StatementParser = (cur: Cursor, d: Draft, pos: StmtPos) => void;

const STATEMENTS: Readonly<Record<string, StatementParser>> = {
  action: parseAction, admd: parseAdmd, bounce: parseBounce, ca: parseCa, filter: parseFilter,
  listen: parseListen, match: parseMatch, mda: parseMda, metrics: parseMetrics, mta: parseMta, pki: parsePki,
  proc: parseProc, queue: parseQueue, scheduler: parseScheduler, smtp: parseSmtp, srs: parseSrs,
  table: parseTable,
};

/** A fresh draft with OpenSMTPD's defaults. */
export function newDraft(baseDir: string): Draft {
  return {
    baseDir, tables: new Map(), anonCount: 0, pki: new Map(), ca: new Map(), actions: new Map(),
    matches: [], filters: new Map(), procs: new Map(), listeners: [], dynchain: 0,
    smtp: { maxMessageSize: 36_700_160, maxRcpt: 1000, maxMails: 100, ciphers: 'HIGH:!aNULL:!MD5', subAddrDelim: '+', limits: SmtpOptionsSchema.shape.limits.parse({}) },
    queue: { compression: false, ttl: 345_600 },
    bounce: { warnIntervals: [14_400] },
    mta: { maxDeferred: 100, limits: [] },
    mda: { wrappers: {}, limits: { maxSession: 50, maxSessionPerUser: 7, taskHiwat: 50, taskLowat: 30, taskRelease: 10 } },
    scheduler: { limits: { maxInflight: 5000, maxEvpBatchSize: 256, maxMsgBatchSize: 1024, maxSchedule: 10 } },
    srs: { ttl: 345_600 },
  };
}

/** Parses every statement of the input behind `cur` into `d`; errors go to `cur.errors`. */
export function parseStatements(cur: Cursor, d: Draft): void {
  for (;;) {
    const tok = cur.peek();
    if (tok.t === 'eof') return;
    if (tok.t === 'nl') { cur.next(); continue; }
    const pos = cur.begin();
    try {
      if (tok.t === 'kw' && tok.v === 'include') {
        cur.next();
        const path = cur.expectString();
        // As OpenSMTPD: the path is opened as written (a relative one from the working directory);
        // the included text comes before the end of this line.
        if (!cur.include(path.v, MAX_INCLUDE_DEPTH)) cur.fail(path, `failed to include file ${path.v}`);
        continue;
      }
      if (tok.t === 'str') {
        macro(cur);
      } else {
        const parse = tok.t === 'kw' ? STATEMENTS[tok.v] : undefined;
        if (!parse) cur.fail(tok);
        parse(cur, d, pos);
      }
      cur.end();
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      cur.statementError(e);
      cur.recover();
    }
  }
}

/** `name = "value"`: defines a macro for the following lines (`-D` macros take precedence). */
function macro(cur: Cursor): void {
  const name = cur.next();
  cur.expectPunct('=');
  const value = cur.expectString();
  if (/\s/.test(name.v)) cur.fail(name, 'macro name cannot contain whitespace');
  cur.setMacro(name.v, value.v);
}
