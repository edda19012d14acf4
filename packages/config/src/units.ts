// Duration and size syntax of smtpd.conf: `N{s|m|h|d}` (OpenSMTPD delaytonum) and byte sizes with
// an optional scale suffix (scan_scaled: `35M`, `1.5G`, `512k`). Pure functions, no I/O.

const DURATION_FACTORS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
const INT_MAX = 2 ** 31 - 1;

/**
 * Parses a duration such as `30s`, `5m`, `4h`, `4d` into seconds. At least one digit and a unit;
 * the number must be 1 or more. Returns undefined when invalid (`0s`, `4`, `4w`, `-1d`).
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const factor = DURATION_FACTORS[m[2]] ?? 1;
  const n = Number(m[1]);
  if (n < 1 || n > Math.floor(INT_MAX / factor)) return undefined;
  return n * factor;
}

const SCALE: Readonly<Record<string, number>> = {
  b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5, e: 1024 ** 6,
};

/**
 * Parses a size in bytes: a plain number, or a number with a `B K M G T P E` suffix (either case;
 * binary multiples, fractions allowed: `1.5K` = 1536). Returns undefined when invalid or negative.
 */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = /^(\d+)(?:\.(\d+))?([bkmgtpeBKMGTPE])?$/.exec(text);
  if (!m?.[1]) return undefined;
  const scale = m[3] ? (SCALE[m[3].toLowerCase()] ?? 1) : 1;
  if (m[2] !== undefined && !m[3]) return undefined;
  const value = Math.floor(Number(`${m[1]}.${m[2] ?? '0'}`) * scale);
  return Number.isSafeInteger(value) ? value : undefined;
}
