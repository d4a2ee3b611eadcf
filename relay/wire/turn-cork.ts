/** What TurnCork needs of a connection: node's Writable cork and uncork. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Corks a connection at the first frame sent in a turn and uncorks it once that turn's code and
 * promise reactions have run (process.nextTick, queued after them), so the frames a turn sends (a
 * step's post and delete, the ops of a pass over many records, the answers to one read's worth
 * of relay frames) leave in one write rather than a system call each.
 *
 * Not until setImmediate: the agent saves its state on setImmediate (durable-state.ts), and a
 * replayable frame, or a mailbox that may open during the save, must reach the wire before that
 * save's fdatasync, not behind it. A nextTick callback runs before any immediate, whichever was
 * queued first.
 */
export class TurnCork {
  private held: Corkable | null = null;

  /** Corks `wire` unless this turn already did; it is uncorked on this turn's nextTick. */
  hold(wire: Corkable | null): void {
    if (!wire || this.held) return;
    this.held = wire;
    wire.cork();
    process.nextTick(() => this.release());
  }

  private release(): void {
    const wire = this.held;
    this.held = null;
    wire?.uncork();
  }
}
