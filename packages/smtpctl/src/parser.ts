// smtpctl's command grammar as OpenSMTPD's parser.c: a tree of words and typed parameters
// (<msgid> 8 hex, <evpid> 16 hex, <str> anything). A word may be abbreviated to any unique
// prefix (`sh q`); an incomplete or ambiguous command prints "possibilities are:" and the ways on.

export type Param = { type: 'msgid' | 'evpid' | 'str'; value: string };
type Kind = 'token' | Param['type'];

interface Node {
  kind: Kind;
  token: string;
  children: Node[];
  cmd?: string;
}

export type ParseResult =
  | { ok: true; cmd: string; params: Param[] }
  | { ok: false; message: string };

export class CommandTree {
  private readonly root: Node = { kind: 'token', token: '', children: [] };

  /** Add a pattern such as `show queue <msgid>` for command `name`. */
  install(pattern: string, name: string): this {
    let node = this.root;
    for (const word of pattern.split(' ')) {
      const kind: Kind = word === '<msgid>' ? 'msgid' : word === '<evpid>' ? 'evpid' : word === '<str>' ? 'str' : 'token';
      let next = node.children.find((c) => c.token === word);
      if (!next) {
        next = { kind, token: word, children: [] };
        node.children.push(next);
      }
      node = next;
    }
    if (node.cmd) throw new Error(`duplicate pattern: ${pattern}`);
    node.cmd = name;
    return this;
  }

  parse(argv: string[]): ParseResult {
    let node = this.root;
    const params: Param[] = [];
    const path: string[] = [];
    for (const arg of argv) {
      let next = node.children.find((c) => matches(c, arg));
      if (!next) {
        const prefixed = node.children.filter((c) => c.kind === 'token' && c.token.startsWith(arg));
        if (prefixed.length !== 1) return this.fail(node, path);
        next = prefixed[0]!;
      }
      if (next.kind !== 'token') params.push({ type: next.kind, value: arg.toLowerCase() });
      path.push(next.token);
      node = next;
    }
    if (!node.cmd) return this.fail(node, path);
    return { ok: true, cmd: node.cmd, params };
  }

  private fail(node: Node, path: string[]): ParseResult {
    if (node.children.length === 0) return { ok: false, message: 'invalid command' };
    const lines = node.children.map((c) => [...path, c.token].join(' '));
    return { ok: false, message: ['possibilities are:', ...lines].join('\n') };
  }
}

function matches(n: Node, arg: string): boolean {
  switch (n.kind) {
    case 'token': return n.token === arg;
    case 'str': return true;
    case 'msgid': return /^[0-9a-fA-F]{8}$/.test(arg) && !/^0{8}$/.test(arg);
    case 'evpid': return /^[0-9a-fA-F]{16}$/.test(arg) && !/^0{16}$/.test(arg);
  }
}
