// Prints the bench results as plain-text tables: one line per run, tsmtpd's accepted and delivered
// messages/s, the Postfix figure from STACK.md section 8 (or a live Postfix run) and the ratio;
// for the relay rows also CPU per delivered message and connections to the sink.

function fmt(n, digits = 0) {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

function row(cells, widths) {
  return cells.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

/** `ours`: measured runs; `peer`: the same runs against Postfix, or undefined; `reference(run)`. */
export function printTable(ours, peer, reference) {
  const head = ['mode', 'sessions', 'size', 'msgs', 'accepted/s', 'delivered/s', 'postfix ref', 'ratio'];
  if (peer) head.push('postfix live', 'delivered', 'ratio live');
  const lines = ours.map((r, i) => {
    const ref = reference(r);
    const size = r.size >= 1024 ? `${r.size / 1024} KiB` : `${r.size} B`;
    const delivered = r.delivered !== undefined ? fmt(r.delivered) : `${r.deliveredCount}/${r.count}!`;
    const accepted = r.ok ? fmt(r.accepted) : `${fmt(r.accepted)}!`;
    const cells = [r.mode, r.sessions, size, r.count, accepted, delivered, ref ?? '-', ref ? `${fmt(r.accepted / ref, 2)}x` : '-'];
    if (peer) {
      const p = peer[i];
      const pd = p?.delivered !== undefined ? fmt(p.delivered) : p ? `${p.deliveredCount}/${p.count}!` : '-';
      cells.push(p?.ok ? fmt(p.accepted) : 'failed', pd, p?.ok ? `${fmt(r.accepted / p.accepted, 2)}x` : '-');
    }
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const out = [row(head, widths), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map((l) => row(l, widths))];
  out.push('');
  out.push('accepted/s: messages / smtp-source wall time; delivered/s: messages / time until the last one is in the maildir.');
  out.push('postfix ref: Postfix 3.7 -> maildir, 1 KiB, accepted msgs/s, from STACK.md section 8 (measured on this machine kind');
  out.push('  by the stack study, not in this run); ratio = tsmtpd accepted / reference. "!" = smtp-source failed or not all delivered in time.');
  if (peer) out.push('postfix live: the same load against Postfix 3.7 from .peers/ in this run (local(8) to maildir); ratio live = tsmtpd accepted / postfix accepted.');
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * The relay rows: `ours` are tsmtpd runs ({variant, sessions, ...}), `peer` the Postfix runs by
 * session count (or undefined). Ratios are tsmtpd / Postfix: delivered (higher is better) and CPU
 * per delivered message (lower is better).
 */
export function printRelayTable(ours, peer, limitsNote) {
  const head = ['relay', 'sessions', 'msgs', 'accepted/s', 'delivered/s', 'CPU ms/msg', 'conns'];
  if (peer) head.push('postfix acc/s', 'postfix del/s', 'postfix CPU', 'conns', 'del ratio', 'CPU ratio');
  const delivered = (r) => (r.delivered !== undefined ? fmt(r.delivered) : `${r.deliveredCount}/${r.count}!`);
  const lines = ours.map((r) => {
    const cells = [r.variant, r.sessions, r.count, r.ok ? fmt(r.accepted) : `${fmt(r.accepted)}!`, delivered(r), fmt(r.cpuPerMsg, 2), r.peakConns ?? '-'];
    if (peer) {
      const p = peer.find((x) => x.sessions === r.sessions);
      const both = p?.delivered !== undefined && r.delivered !== undefined;
      cells.push(p ? (p.ok ? fmt(p.accepted) : `${fmt(p.accepted)}!`) : '-', p ? delivered(p) : '-', fmt(p?.cpuPerMsg, 2), p?.peakConns ?? '-',
        both ? `${fmt(r.delivered / p.delivered, 2)}x` : '-', p?.cpuPerMsg && r.cpuPerMsg ? `${fmt(r.cpuPerMsg / p.cpuPerMsg, 2)}x` : '-');
    }
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const pad = (cells) => cells.map((c, i) => (i < 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  const out = [pad(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(pad), ''];
  out.push('relay: smtp-source -> server -> smtp-sink, 1 KiB, a connection per message from smtp-source. delivered/s: messages /');
  out.push('  time until smtp-sink counted the last one; CPU ms/msg: CPU of the server\'s whole process tree (not smtp-source or');
  out.push('  smtp-sink) per delivered message; conns: most connections open to the sink at once. "!" = failed or not all delivered.');
  out.push('  default = OpenSMTPD\'s mta limits (conn-delay-route 5 s, session-mail-max 100);');
  if (limitsNote) out.push(`  ${limitsNote}`);
  if (peer) out.push('postfix: Postfix 3.7 from .peers/ with relayhost = the same sink; ratios are tsmtpd / postfix.');
  process.stdout.write(out.join('\n') + '\n');
}
