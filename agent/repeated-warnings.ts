import type { Logger } from 'pino';

/** Distinct messages remembered at most; past it, the ones whose interval has passed are forgotten. */
const MAX_KEYS = 1024;

/**
 * Log lines that a relay can make an agent repeat (a lost mailbox, a dropped socket) go out at
 * most once per interval per message: the first at once, the rest counted and reported as
 * `repeated` on the next line that goes out. A relay that misbehaves in a loop thus costs a line
 * a minute, not gigabytes a day of the same warning.
 */
export class RepeatedWarnings {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly nowMs: () => number = Date.now,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    this.log('warn', fields, message);
  }

  info(fields: Record<string, unknown>, message: string): void {
    this.log('info', fields, message);
  }

  private log(level: 'warn' | 'info', fields: Record<string, unknown>, message: string): void {
    const now = this.nowMs();
    const entry = this.seen.get(message);
    if (entry && now < entry.until) {
      entry.suppressed++;
      return;
    }
    if (this.seen.size >= MAX_KEYS) this.forgetExpired(now);
    this.logger[level](entry?.suppressed ? { ...fields, repeated: entry.suppressed } : fields, message);
    this.seen.set(message, { until: now + this.intervalMs, suppressed: 0 });
  }

  private forgetExpired(now: number): void {
    for (const [key, entry] of this.seen) if (entry.until <= now) this.seen.delete(key);
  }
}
