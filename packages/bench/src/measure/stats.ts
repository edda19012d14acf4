// The arithmetic of the tables, kept pure so it is unit-tested: quantiles of latencies, the
// median of rounds, the ratio tsmtpd/peer, and number formatting ("-" where there is no figure).

/** The q-th quantile (0..1) by the nearest-rank method; undefined for an empty list. */
export function quantile(xs: readonly number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil(q * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

/** The median of the defined values (the lower middle of an even count); undefined when none. */
export function median(xs: readonly (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
}

/** ours / theirs, undefined when either is missing or theirs is 0. */
export function ratio(ours: number | undefined, theirs: number | undefined): number | undefined {
  if (ours === undefined || theirs === undefined || theirs === 0 || Number.isNaN(ours) || Number.isNaN(theirs)) return undefined;
  return ours / theirs;
}

/** A number with `digits` decimals, or "-". */
export function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || Number.isNaN(x) || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** A ratio as "1.23x", or "-". */
export function fmtRatio(x: number | undefined): string {
  return x === undefined ? '-' : `${fmt(x, 2)}x`;
}

/** A byte size as the bench labels it: "1K", "100K", "512B". */
export function sizeLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024}K` : `${bytes}B`;
}
