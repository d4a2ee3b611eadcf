/** Parses a duration like `90`, `90s`, `10m`, `24h`, `7d` into seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`${what} must be a number of seconds or like 10m, 24h, 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
