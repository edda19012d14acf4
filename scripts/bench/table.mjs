// Prints the bench results as a plain-text table: one line per run, tsmtpd's accepted and delivered
// messages/s, the Postfix figure from STACK.md section 8 (or a live Postfix run) and the ratio.

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
