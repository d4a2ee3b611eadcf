import { PairlinkError } from '../../src/errors.js';
import type { SocketFrame } from '../wire/relay-answers.js';
import { relayAnswerError } from './relay-failure.js';

interface Pending {
  readonly answer: (frame: SocketFrame) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The operations one relay socket has sent and awaits the answer of, by ref: posts, and mailbox
 * creations and deletions. Each has a deadline; when the socket closes, every one still waiting
 * fails.
 */
export class SocketRequests {
  private readonly pending = new Map<string, Pending>();
  private nextRef = 0;

  constructor(private readonly timeoutMs: number) {}

  /**
   * Sends `op` (with `transmit`) with a fresh ref and waits, within the timeout, for the answer
   * with that ref: `accept` reads a success frame (undefined: not the answer this op has, a
   * protocol error); the relay's error (and the HTTP status it carries) rejects as a refusal.
   */
  send<T>(
    op: object,
    what: string,
    accept: (frame: SocketFrame) => T | undefined,
    transmit: (message: object) => void,
    ref = this.newRef(),
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(
          new PairlinkError('RELAY_UNREACHABLE', `relay did not answer ${what} within ${this.timeoutMs} ms`),
        );
      }, this.timeoutMs);
      this.pending.set(ref, {
        answer: (frame) => {
          if (frame.op === 'error')
            return reject(relayAnswerError(frame.error, frame.status, frame.retryAfter));
          const value = accept(frame);
          if (value === undefined)
            reject(new PairlinkError('RELAY_PROTOCOL', `the relay answered ${what} with ${frame.op}`));
          else resolve(value);
        },
        reject,
        timer,
      });
      transmit({ ...op, ref });
    });
  }

  /** A ref no operation of this socket had: for one that a later one names (a post's `after`). */
  newRef(): string {
    return String(this.nextRef++);
  }

  /** Hands `frame` to the operation awaiting `ref`; an answer nothing awaits is dropped. */
  settle(ref: string, frame: SocketFrame): void {
    const pending = this.pending.get(ref);
    if (!pending) return;
    this.pending.delete(ref);
    clearTimeout(pending.timer);
    pending.answer(frame);
  }

  /** The socket closed: every operation still waiting fails as unreachable. */
  socketClosed(): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new PairlinkError('RELAY_UNREACHABLE', 'relay socket closed'));
    }
    this.pending.clear();
  }
}
