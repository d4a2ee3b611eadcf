import type {
  AddWriterResult,
  AppendResult,
  ClaimResult,
  InboxStats,
  MailboxEvent,
  MailboxInfo,
  MailboxRecord,
  MessageBounds,
  RelayStore,
  StoredMessage,
} from '../../relay/server/store/store.js';

/** One held store answer: the test learns when it is held, then lets it go (or fails it). */
export interface HeldAnswer {
  /** Resolves once the call is held (a read: with its answer from the real store; a write: before it reaches the store). */
  readonly reached: Promise<void>;
  /** Lets the held call return the answer it already had. */
  release(): void;
  /** Makes the held call throw `error` instead (a store that failed mid-request). */
  fail(error: Error): void;
}

interface Hold {
  readonly answer: HeldAnswer;
  readonly arrived: () => void;
  readonly gate: Promise<void>;
}

type HeldMethod = 'getMailbox' | 'readMessages' | 'appendMessage';

/**
 * A real store (memory or Redis) whose next `getMailbox` or `readMessages` of one mailbox can be
 * held after the real store answered and before the relay sees the answer: the window in which a
 * relay has read a mailbox but not yet acted on what it read, made as wide as a test needs. Its
 * next `appendMessage` can be held before it reaches the real store: a relay handler still
 * awaiting its write. Everything else passes straight through.
 */
export class PausableStore implements RelayStore {
  private readonly holds = new Map<string, Hold>();
  private closeCalled = () => {};
  /** Resolves once the relay has begun closing this store. */
  readonly closing = new Promise<void>((resolve) => {
    this.closeCalled = resolve;
  });

  constructor(private readonly inner: RelayStore) {}

  get kind(): RelayStore['kind'] {
    return this.inner.kind;
  }

  get holdsSince(): number | undefined {
    return this.inner.holdsSince;
  }

  /** Holds the next `method` call for mailbox `id`. */
  holdNext(method: HeldMethod, id: string): HeldAnswer {
    let arrived = () => {};
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    let release = () => {};
    let fail: (error: Error) => void = () => {};
    const gate = new Promise<void>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    const answer: HeldAnswer = { reached, release, fail };
    this.holds.set(`${method}:${id}`, { answer, arrived, gate });
    return answer;
  }

  /** Waits out a hold on this call, if the test placed one. */
  private async held(method: HeldMethod, id: string): Promise<void> {
    const key = `${method}:${id}`;
    const hold = this.holds.get(key);
    if (!hold) return;
    this.holds.delete(key);
    hold.arrived();
    await hold.gate;
  }

  createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'> {
    return this.inner.createMailbox(id, record);
  }

  async getMailbox(id: string): Promise<MailboxInfo | null> {
    const record = await this.inner.getMailbox(id);
    await this.held('getMailbox', id);
    return record;
  }

  async appendMessage(
    id: string,
    writeCapHash: string,
    body: string,
    bounds: MessageBounds,
  ): Promise<AppendResult> {
    await this.held('appendMessage', id);
    return this.inner.appendMessage(id, writeCapHash, body, bounds);
  }

  async readMessages(id: string, afterSeq: number): Promise<StoredMessage[] | null> {
    const messages = await this.inner.readMessages(id, afterSeq);
    await this.held('readMessages', id);
    return messages;
  }

  deleteMailbox(id: string): Promise<boolean> {
    return this.inner.deleteMailbox(id);
  }

  countMailboxes(ip: string): Promise<number> {
    return this.inner.countMailboxes(ip);
  }

  createNameplate(mailbox: string, maxClaims: number, expiresAt: number): Promise<string | null> {
    return this.inner.createNameplate(mailbox, maxClaims, expiresAt);
  }

  claimNameplate(nameplate: string, writeCapHash: string): Promise<ClaimResult> {
    return this.inner.claimNameplate(nameplate, writeCapHash);
  }

  renewInbox(id: string, expiresAt: number): Promise<number | null> {
    return this.inner.renewInbox(id, expiresAt);
  }

  addWriter(id: string, writeCapHash: string, maxWriters: number): Promise<AddWriterResult> {
    return this.inner.addWriter(id, writeCapHash, maxWriters);
  }

  revokeWriter(id: string, writeCapHash: string): Promise<boolean | null> {
    return this.inner.revokeWriter(id, writeCapHash);
  }

  trimInbox(id: string, throughSeq: number): Promise<number | null> {
    return this.inner.trimInbox(id, throughSeq);
  }

  inboxStats(): Promise<InboxStats> {
    return this.inner.inboxStats();
  }

  subscribe(listener: (event: MailboxEvent) => void): () => void {
    return this.inner.subscribe(listener);
  }

  /**
   * Resolves with the next event of `type` for `mailbox`. Listeners hear events in the order they
   * subscribed (both stores keep them in one insertion-ordered Set), so when a relay started on
   * this store has subscribed first, this resolves after the relay has heard the event too.
   */
  nextEvent(mailbox: string, type: MailboxEvent['type']): Promise<MailboxEvent> {
    return new Promise((resolve) => {
      const unsubscribe = this.inner.subscribe((event) => {
        if (event.mailbox !== mailbox || event.type !== type) return;
        unsubscribe();
        resolve(event);
      });
    });
  }

  mailboxCount(): Promise<number> {
    return this.inner.mailboxCount();
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    this.closeCalled();
    return this.inner.close();
  }
}
