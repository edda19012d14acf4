// Reference figures from /work/shared/STACK.md section 8 ("What the peers teach", measured side by
// side on this machine kind, 1 KiB messages, smtp-source). Printed beside our own measurements.

/** Postfix 3.7 delivering to maildir, messages accepted per second (1 KiB). */
export const postfixMaildir = {
  perMessage: { 1: 369, 10: 468, 50: 421 },
  reused: { 10: 816 },
};

/** OpenSMTPD 6.8 delivering to maildir, stock (1 KiB). */
export const opensmtpdMaildir = {
  perMessage: { 1: 164, 10: 10, 50: 7 },
  reused: { 10: 227 },
};

/** The Postfix reference for a run, or undefined when STACK.md has none for that shape. */
export function postfixReference(run) {
  if (run.size !== 1024) return undefined;
  const table = run.mode === 'reused' ? postfixMaildir.reused : postfixMaildir.perMessage;
  return table[run.sessions];
}
