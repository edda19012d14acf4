// A minimal Chrome DevTools Protocol client over a node inspector's WebSocket (Node 20 has the
// WebSocket client behind --experimental-websocket: the queue-scale entry re-runs itself with it).
// Attaches to every worker thread (NodeWorker.enable) so each actor's heap can be read by its name.

interface Ws {
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((ev: { data: string }) => void) | null;
  send(s: string): void;
  close(): void;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: { workerInfo?: { title: string }; sessionId?: string; message?: string };
  result?: Record<string, unknown>;
}

export class Cdp {
  private id = 0;
  private readonly pending = new Map<number, (r: Record<string, unknown>) => void>();
  /** Worker title (its role) -> inspector session id. */
  readonly workers = new Map<string, string>();

  private constructor(private readonly ws: Ws) {
    ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data) as CdpMessage);
  }

  static connect(url: string, timeoutMs = 10_000): Promise<Cdp> {
    const Ctor = (globalThis as unknown as { WebSocket?: new (u: string) => Ws }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket: run node with --experimental-websocket');
    return new Promise((resolve, reject) => {
      const c = new Cdp(new Ctor(url));
      const timer = setTimeout(() => reject(new Error(`inspector ${url}: no answer in ${timeoutMs} ms`)), timeoutMs);
      c.ws.onopen = () => void c.call('NodeWorker.enable', { waitForDebuggerOnStart: false }).then(() => (clearTimeout(timer), resolve(c)));
      c.ws.onerror = () => (clearTimeout(timer), reject(new Error(`inspector connection to ${url} failed`)));
    });
  }

  private onMessage(m: CdpMessage): void {
    if (m.method === 'NodeWorker.attachedToWorker' && m.params?.workerInfo && m.params.sessionId) {
      this.workers.set(m.params.workerInfo.title.replace(/^\[worker \d+\] /, ''), m.params.sessionId);
    } else if (m.method === 'NodeWorker.receivedMessageFromWorker' && m.params?.message) {
      this.onMessage(JSON.parse(m.params.message) as CdpMessage);
    } else if (m.id !== undefined && this.pending.has(m.id)) {
      this.pending.get(m.id)!(m.result ?? {});
      this.pending.delete(m.id);
    }
  }

  /** One call, on the main thread (session null) or in a worker; bounded by `timeoutMs`. */
  call(method: string, params: Record<string, unknown> = {}, session: string | null = null, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const id = ++this.id;
    const msg = JSON.stringify({ id, method, params });
    return new Promise((resolve) => {
      const timer = setTimeout(() => (this.pending.delete(id), resolve({})), timeoutMs);
      this.pending.set(id, (r) => (clearTimeout(timer), resolve(r)));
      if (session === null) this.ws.send(msg);
      else this.ws.send(JSON.stringify({ id: ++this.id, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: session, message: msg } }));
    });
  }

  /** Heap in use per thread ('main' and each worker by its title), after a full GC when `gc`. */
  async heaps(gc: boolean): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [name, session] of [['main', null] as const, ...this.workers]) {
      if (gc) await this.call('HeapProfiler.collectGarbage', {}, session);
      out[name] = Number((await this.call('Runtime.getHeapUsage', {}, session))['usedSize'] ?? 0);
    }
    return out;
  }

  close(): void {
    this.ws.close();
  }
}
