// Delivering one message to the envelopes started together: prepare each (action, user),
// read the header block once (loop detection, junk flag), open every delivery, then stream
// the body page by page to all of them (one read of the body for all), and end them. Every
// failure becomes an outcome; nothing here throws. Talks to queue (bodyRead) via BodyReader.
import type { DeliveryStatus, Envelope } from '@tsmtpd/proto';
import { BodyError, BodyReader, type BodyReadFn } from './body.js';
import { deliveryPrefix, isLoop, type HeaderInfo } from './headers.js';
import { prepare, type Plan, type Prepared, type PrepareContext } from './prepare.js';
import { permfail, tempfail, type MethodOutcome, type Sink } from './sink.js';

export interface DeliveryOutcome {
  status: DeliveryStatus;
  errorline: string;
  user?: string;
  method?: string;
}

export interface DeliveryItem {
  env: Envelope;
  /** Called exactly once with the envelope's outcome. */
  done(o: DeliveryOutcome): void;
}

export interface RunContext extends PrepareContext {
  bodyRead: BodyReadFn;
  /** Set when the actor stops: deliveries in progress are aborted (temporary failure). */
  signal: AbortSignal;
}

interface Open {
  item: DeliveryItem;
  plan: Plan;
  sink: Sink;
}

const internal = (e: unknown): MethodOutcome => tempfail(`internal error: ${(e as Error)?.message ?? String(e)}`);

function finish(item: DeliveryItem, o: MethodOutcome | DeliveryOutcome, plan?: { user?: string; method?: string }): void {
  item.done({ ...o, ...(plan?.user !== undefined ? { user: plan.user } : {}), ...(plan?.method !== undefined ? { method: plan.method } : {}) });
}

async function openAll(ready: { item: DeliveryItem; plan: Plan }[], info: HeaderInfo): Promise<Open[]> {
  const opened: Open[] = [];
  await Promise.all(
    ready.map(async ({ item, plan }) => {
      const meta = { user: plan.user.username, method: plan.method };
      if (isLoop(info, item.env.dest)) {
        finish(item, { status: 'loop', errorline: `5.4.6 Loop detected: Delivered-To: ${item.env.dest}` }, meta);
        return;
      }
      try {
        const r = await plan.open(info);
        if (!r.ok) return finish(item, r.outcome, meta);
        await r.sink.write(deliveryPrefix(item.env.sender, item.env.dest));
        opened.push({ item, plan, sink: r.sink });
      } catch (e) {
        finish(item, internal(e), meta);
      }
    }),
  );
  return opened;
}

async function abortAll(open: Open[], o: MethodOutcome): Promise<void> {
  await Promise.all(
    open.map(async ({ item, plan, sink }) => {
      await sink.abort(o.errorline).catch(() => {});
      finish(item, o, { user: plan.user.username, method: plan.method });
    }),
  );
}

/** Stream the body to every open delivery, then end them. */
async function streamBody(reader: BodyReader, open: Open[], ctx: RunContext): Promise<void> {
  // Stopping the actor aborts at once what is in flight (kills commands, closes sessions).
  const onAbort = (): void => void Promise.all(open.map((o) => o.sink.abort('mda shutting down').catch(() => {})));
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await streamAndEnd(reader, open, ctx);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

async function streamAndEnd(reader: BodyReader, open: Open[], ctx: RunContext): Promise<void> {
  try {
    for await (const page of reader.pages()) {
      for (const chunk of page) await Promise.all(open.map((o) => o.sink.write(chunk)));
      if (ctx.signal.aborted) return abortAll(open, tempfail('mda shutting down'));
    }
  } catch (e) {
    const o = e instanceof BodyError ? (e.kind === 'perm' ? permfail(e.message) : tempfail(e.message)) : internal(e);
    return abortAll(open, o);
  }
  await Promise.all(
    open.map(async ({ item, plan, sink }) => {
      const o = await sink.end().catch(internal);
      finish(item, o, { user: plan.user.username, method: plan.method });
    }),
  );
}

/** Deliver one message to these envelopes (all of the same msgid); `body`: all of it, if at hand. */
export async function deliverMessage(msgid: string, items: DeliveryItem[], ctx: RunContext, body: Uint8Array[] | null = null): Promise<void> {
  const ready: { item: DeliveryItem; plan: Plan }[] = [];
  await Promise.all(
    items.map(async (item) => {
      const p: Prepared = await prepare(item.env, ctx).catch((e: unknown) => ({ ok: false as const, outcome: internal(e) }));
      if (p.ok) ready.push({ item, plan: p.plan });
      else finish(item, p.outcome, p);
    }),
  );
  if (ready.length === 0) return;
  // Keep the arrival order of the envelopes (prepare answers in any order).
  ready.sort((a, b) => items.indexOf(a.item) - items.indexOf(b.item));
  const reader = new BodyReader(ctx.bodyRead, msgid, body);
  let info: HeaderInfo;
  try {
    info = await reader.scanHeaders();
  } catch (e) {
    const o = e instanceof BodyError ? (e.kind === 'perm' ? permfail(e.message) : tempfail(e.message)) : internal(e);
    for (const { item, plan } of ready) finish(item, o, { user: plan.user.username, method: plan.method });
    return;
  }
  const open = await openAll(ready, info);
  if (open.length > 0) await streamBody(reader, open, ctx);
}
