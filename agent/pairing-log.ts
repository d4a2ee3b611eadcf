import type { Logger } from 'pino';
import type { InviteProgress } from '../src/rpc/protocol.js';

/** How a pairing (or an invite) ended, as its progress says. */
const OUTCOMES = new Set<InviteProgress['status']>([
  'paired',
  'unconfirmed',
  'failed',
  'expired',
  'cancelled',
]);

/** Pairings whose start is remembered at once; past this the oldest are forgotten (they log without ms). */
const MAX_TRACKED = 10_000;

/**
 * One info line per pairing outcome, for whoever watches the agent's log: `pairing paired` (or
 * unconfirmed, failed, expired, cancelled) with the role, the invite or accept id, the session,
 * the peer's did and name, the error code and how long it took in milliseconds (from the acceptor's
 * hello on the issuer's side, from `accept` on the acceptor's; for an invite's own end, from its
 * minting). Never a link, a code or a secret: progress events carry none.
 */
export class PairingLog {
  private readonly started = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** An accept began (the acceptor side has no progress event for it). */
  acceptStarted(acceptId: string): void {
    this.remember(`accept ${acceptId}`);
  }

  /** Notes starts and logs outcomes; called with every progress event the agent emits. */
  observe(progress: Omit<InviteProgress, 'at'>): void {
    const key = this.keyOf(progress);
    if (progress.status === 'published' || progress.status === 'accepted') {
      this.remember(key);
      return;
    }
    if (!OUTCOMES.has(progress.status)) return;
    const began = this.started.get(key);
    this.started.delete(key);
    this.logger.info(
      {
        role: progress.role,
        ...(progress.role === 'issuer' ? { invite: progress.id } : { accept: progress.id }),
        ...(progress.sessionId ? { session: progress.sessionId.slice(0, 16) } : {}),
        ...(progress.peer ? { peer: { did: progress.peer.did, name: progress.peer.name } } : {}),
        ...(progress.error ? { code: progress.error.code } : {}),
        ...(began === undefined ? {} : { ms: Math.round(this.nowMs() - began) }),
      },
      `pairing ${progress.status}`,
    );
  }

  /** An issuer's session from its hello, an invite's own end from its minting, an accept whole. */
  private keyOf(progress: Omit<InviteProgress, 'at'>): string {
    if (progress.role === 'acceptor') return `accept ${progress.id}`;
    return progress.sessionId ? `session ${progress.id} ${progress.sessionId}` : `invite ${progress.id}`;
  }

  private remember(key: string): void {
    if (this.started.size >= MAX_TRACKED) {
      const oldest = this.started.keys().next().value;
      if (oldest !== undefined) this.started.delete(oldest);
    }
    this.started.set(key, this.nowMs());
  }
}
