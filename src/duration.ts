/** Parses a duration like `90`, `90s`, `10m`, `24h`, `7d` into seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`${what} must be a number of seconds or like 10m, 24h, 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

const UNITS = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
] as const;

/** Writes seconds the way parseDuration reads them, in the largest unit that divides them: `7d`, `15m`, `30s`. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of UNITS)
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}
