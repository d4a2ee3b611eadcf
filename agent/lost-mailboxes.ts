import type { Logger } from 'pino';
import { type BackoffSchedule, backoffDelayMs } from '../src/retry-backoff.js';

/** Re-opening a mailbox the relay says it lost: the backoff, and how many times before giving up. */
export interface LostMailboxRetry extends BackoffSchedule {
  /** Losses of one mailbox after which its invite or accept fails with RELAY_UNRELIABLE. */
  readonly maxLosses: number;
}

/**
 * A relay restart loses each mailbox once; a relay that says "created" and then "not found" for
 * ever (one named by a stranger may) would otherwise be asked again at CPU speed. Eight losses
 * take about 30 s on this schedule.
 */
export const DEFAULT_LOST_MAILBOX_RETRY: LostMailboxRetry = { baseMs: 500, ceilingMs: 10_000, maxLosses: 8 };

/**
 * How often the relay lost each mailbox we read (base64url id), and the re-opens waiting out their
 * backoff. A re-created mailbox starts again at sequence 1; each re-open waits out a backoff with
 * jitter, and past `maxLosses` losses of one mailbox (a relay that says "created" and then "not
 * found" for ever) its record gives up (RELAY_UNRELIABLE).
 */
export class LostMailboxes {
  private readonly losses = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly retry: LostMailboxRetry,
    private readonly logger: Logger,
    /** Re-opens `mailbox` once its backoff has passed. */
    private readonly reopen: (mailbox: string) => void,
  ) {}

  /** Whether a re-open of `mailbox` is waiting out its backoff. */
  waiting(mailbox: string): boolean {
    return this.timers.has(mailbox);
  }

  /**
   * Counts a loss of `mailbox` (on `relay`, read by `owner`: `{ invite: id }` or `{ accept: id }`)
   * and re-opens it after the backoff, or, past maxLosses, says one line and answers `gaveUp`.
   */
  reopenLater(mailbox: string, relay: string, owner: Record<string, string>): 'scheduled' | 'gaveUp' {
    const losses = (this.losses.get(mailbox) ?? 0) + 1;
    this.losses.set(mailbox, losses);
    const retry = this.retry;
    if (losses > retry.maxLosses) {
      this.losses.delete(mailbox);
      this.logger.warn(
        { relay: new URL(relay).origin, ...owner, losses: retry.maxLosses },
        'the relay kept saying it created a mailbox and then that it had none; gave up on it (RELAY_UNRELIABLE)',
      );
      return 'gaveUp';
    }
    // Backed off with jitter: a relay that answers "created" then "not found" at once must not
    // be asked again at CPU speed.
    const delay = backoffDelayMs(losses - 1, retry, Math.random());
    const timer = setTimeout(() => {
      this.timers.delete(mailbox);
      this.reopen(mailbox);
    }, delay);
    this.timers.set(mailbox, timer);
    return 'scheduled';
  }

  /** The mailbox is closed: its count and any re-open waiting go. */
  forget(mailbox: string): void {
    this.losses.delete(mailbox);
    clearTimeout(this.timers.get(mailbox));
    this.timers.delete(mailbox);
  }

  /** Cancels every re-open waiting (the agent stops). */
  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
