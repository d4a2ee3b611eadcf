import { randomBytes } from 'node:crypto';
import type { AgentClock, RelayTransport, RelayTransportHandlers } from '../../agent/relay-transport.js';
import { postOneAfterAnother } from '../../relay/client/relay-connection.js';
import { decodeBase64url, encodeBase64url } from '../../src/encoding/base64url.js';
import { PairlinkError } from '../../src/errors.js';

/**
 * An in-memory relay for unit tests of the Agent: mailboxes with capabilities and sequence
 * numbers, nameplates (each claim hands out a write capability of its own), pushes to watchers on the next microtask, and failures on demand. It follows the
 * RelayTransport contract (docs/RELAY.md semantics), so the agent cannot tell it from the real
 * connection except by timing.
 */
export class FakeRelay {
  private readonly boxes = new Map<
    string,
    {
      read: string;
      writes: Set<string>;
      /** By seq − 1; a trimmed one is null (seqs go on from where they were, as the relay's). */
      messages: (Uint8Array | null)[];
      expiresAt: number;
      inbox?: true;
    }
  >();
  /** Nameplate → mailbox id (base64url); a claim adds a write capability of its own. */
  private readonly nameplates = new Map<string, string>();
  private nameplatesMade = 0;
  private readonly watchers = new Map<string, Set<Watch>>();
  /** Each transport's hook for a lost mailbox: it drops the watch, then tells its agent. */
  private readonly losers = new Set<(id: string) => void>();
  /** Operations that fail next, with their error code, in order. */
  private readonly failures: { op: string; code: PairlinkError['code'] }[] = [];
  /** Drops posts for which this returns true (a relay that loses frames). */
  dropPost: (body: Uint8Array) => boolean = () => false;
  /** Holds back posts for which this returns true until `release()` (a relay that delays frames). */
  holdPost: (body: Uint8Array) => boolean = () => false;
  private readonly held: (() => void)[] = [];
  readonly posts: Uint8Array[] = [];
  /** False: an older relay, which answers an inbox's create 400 (the transport's null). */
  keepsInboxes = true;
  /** What the relay says when asked when its store began (Unix ms); undefined: it does not say. */
  storeSinceMs: number | undefined = undefined;

  /** `clock` dates mailboxes (a nameplate claim answers its mailbox's expiry). */
  constructor(
    private readonly clock: Pick<AgentClock, 'now'> = { now: () => Math.floor(Date.now() / 1000) },
  ) {}

  /** Failures asked for and not yet met. */
  get failuresPending(): number {
    return this.failures.length;
  }

  /** Pairing mailboxes it holds now (inboxes are counted apart: `inboxIds`). */
  get mailboxCount(): number {
    return [...this.boxes.values()].filter((box) => !box.inbox).length;
  }

  /** The inboxes it holds (base64url ids). */
  get inboxIds(): string[] {
    return [...this.boxes].filter(([, box]) => box.inbox).map(([id]) => id);
  }

  /** An inbox's expiry (Unix seconds), its writers (base64url capabilities) and messages held (not trimmed), or undefined. */
  inbox(id: string): { expiresAt: number; writers: string[]; held: number } | undefined {
    const box = this.boxes.get(id);
    return box?.inbox
      ? {
          expiresAt: box.expiresAt,
          writers: [...box.writes],
          held: box.messages.filter((m) => m !== null).length,
        }
      : undefined;
  }

  /** Posts `body` to the mailbox `id` (base64url) as a writer it holds would, e.g. a replay or garbage. */
  inject(id: string, body: Uint8Array): void {
    const box = this.boxes.get(id);
    if (!box) throw new Error(`fake relay: no mailbox ${id}`);
    box.messages.push(body);
    for (const watch of this.watchers.get(id) ?? []) this.deliver(id, watch);
  }

  /** Pushes what `watch` has not seen yet, skipping trimmed messages (a gap, as the relay's). */
  private deliver(id: string, watch: Watch): void {
    const box = this.boxes.get(id);
    if (!box) return;
    while (watch.after < box.messages.length) {
      const seq = ++watch.after;
      const body = box.messages[seq - 1];
      if (body) queueMicrotask(() => watch.handlers.onMessage(id, seq, body));
    }
  }

  /** Writer additions and revocations asked of any inbox so far. */
  writerOps = 0;

  failNext(
    op:
      | 'createMailbox'
      | 'post'
      | 'deleteMailbox'
      | 'createInbox'
      | 'renewInbox'
      | 'addInboxWriter'
      | 'revokeInboxWriter'
      | 'trimInbox',
    code: PairlinkError['code'] = 'RELAY_UNREACHABLE',
  ): void {
    this.failures.push({ op, code });
  }

  /** Delivers every held post, in the order they came. */
  release(): void {
    for (const deliver of this.held.splice(0)) deliver();
  }

  private heldCreate: Promise<void> | null = null;

  /** The next createMailbox answers only once the returned function is called (a slow relay). */
  holdCreateMailbox(): () => void {
    let release = () => {};
    this.heldCreate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return release;
  }

  /**
   * Forgets every mailbox, as a memory relay that restarted. `heard` false: the watches are not
   * told, and stay where they were, as a socket that reconnects after its owner made a mailbox
   * again watches it from its old position.
   */
  loseEverything(heard = true): void {
    const ids = [...this.boxes.keys()];
    this.boxes.clear();
    if (!heard) return;
    this.watchers.clear();
    for (const id of ids) for (const lose of this.losers) lose(id);
  }

  private check(op: string): void {
    const index = this.failures.findIndex((f) => f.op === op);
    if (index >= 0) {
      const [failure] = this.failures.splice(index, 1);
      throw new PairlinkError(failure!.code, `fake relay: ${op} failed`);
    }
  }

  /** The inbox `mailboxId` when `readCap` is its owner's, as the relay checks it; else not found. */
  private ownedInbox(mailboxId: Uint8Array, readCap: Uint8Array) {
    const box = this.boxes.get(encodeBase64url(mailboxId));
    if (!box?.inbox || box.read !== encodeBase64url(readCap))
      throw new PairlinkError('INVITE_NOT_FOUND', 'fake relay: no such inbox');
    return box;
  }

  transport(handlers: RelayTransportHandlers): RelayTransport {
    const relay = this;
    const mine = new Map<string, Watch>();
    this.losers.add((id) => {
      // As the real connection does: a watch the relay refuses is dropped, then reported.
      if (mine.delete(id)) queueMicrotask(() => handlers.onMailboxGone(id));
    });
    const deliver = (id: string, watch: Watch) => relay.deliver(id, watch);
    return {
      async createMailbox(mailboxId, readCap, writeCap, ttlSeconds) {
        const held = relay.heldCreate;
        relay.heldCreate = null;
        if (held !== null) await held;
        relay.check('createMailbox');
        const id = encodeBase64url(mailboxId);
        if (relay.boxes.has(id)) return; // our own ids: an earlier attempt made it
        relay.boxes.set(id, {
          read: encodeBase64url(readCap),
          writes: new Set(writeCap ? [encodeBase64url(writeCap)] : []),
          messages: [],
          expiresAt: relay.clock.now() + ttlSeconds,
        });
      },
      async createInbox(mailboxId, readCap, ttlSeconds) {
        relay.check('createInbox');
        if (!relay.keepsInboxes) return null;
        const id = encodeBase64url(mailboxId);
        const box = relay.boxes.get(id);
        if (box) box.expiresAt = Math.max(box.expiresAt, relay.clock.now() + ttlSeconds);
        else
          relay.boxes.set(id, {
            read: encodeBase64url(readCap),
            writes: new Set(),
            messages: [],
            expiresAt: relay.clock.now() + ttlSeconds,
            inbox: true,
          });
        return relay.boxes.get(id)!.expiresAt * 1000;
      },
      async renewInbox(mailboxId, readCap, ttlSeconds) {
        relay.check('renewInbox');
        const box = relay.ownedInbox(mailboxId, readCap);
        box.expiresAt = Math.max(box.expiresAt, relay.clock.now() + ttlSeconds);
        return box.expiresAt * 1000;
      },
      async addInboxWriter(mailboxId, readCap, writeCap) {
        relay.check('addInboxWriter');
        relay.writerOps++;
        relay.ownedInbox(mailboxId, readCap).writes.add(encodeBase64url(writeCap));
      },
      async revokeInboxWriter(mailboxId, readCap, writeCaps) {
        relay.check('revokeInboxWriter');
        relay.writerOps++;
        const box = relay.ownedInbox(mailboxId, readCap);
        for (const writeCap of writeCaps) box.writes.delete(encodeBase64url(writeCap));
      },
      async trimInbox(mailboxId, readCap, throughSeq) {
        relay.check('trimInbox');
        const box = relay.ownedInbox(mailboxId, readCap);
        box.messages = box.messages.map((m, i) => (i < throughSeq ? null : m));
      },
      async createNameplate(mailboxId) {
        const box = relay.boxes.get(encodeBase64url(mailboxId));
        if (!box) throw new PairlinkError('INVITE_NOT_FOUND', 'not found');
        // K00, K01, …: canonical Crockford names, one per nameplate this relay made.
        const symbols = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
        const count = relay.nameplatesMade++;
        const nameplate = `K${symbols[Math.floor(count / 32) % 32]}${symbols[count % 32]}`;
        relay.nameplates.set(nameplate, encodeBase64url(mailboxId));
        return { nameplate, expiresAt: box.expiresAt * 1000 };
      },
      async claimNameplate(nameplate) {
        const id = relay.nameplates.get(nameplate);
        const box = id === undefined ? undefined : relay.boxes.get(id);
        if (!box) throw new PairlinkError('INVITE_NOT_FOUND', 'not found');
        const writeCap = new Uint8Array(randomBytes(16));
        box.writes.add(encodeBase64url(writeCap));
        return { mailboxId: decodeBase64url(id!, 16), writeCap, expiresAt: box.expiresAt * 1000 };
      },
      async post(mailboxId, writeCap, body) {
        relay.check('post');
        const id = encodeBase64url(mailboxId);
        const box = relay.boxes.get(id);
        if (!box?.writes.has(encodeBase64url(writeCap)))
          throw new PairlinkError('INVITE_NOT_FOUND', 'not found');
        relay.posts.push(body);
        if (relay.dropPost(body)) return;
        const store = () => {
          box.messages.push(body);
          for (const watch of relay.watchers.get(id) ?? []) deliver(id, watch);
        };
        if (relay.holdPost(body)) relay.held.push(store);
        else store();
      },
      postInOrder(mailboxId, writeCap, bodies) {
        return postOneAfterAnother(bodies, (body) => this.post(mailboxId, writeCap, body));
      },
      async storeSince() {
        return relay.storeSinceMs;
      },
      async deleteMailbox(mailboxId) {
        relay.check('deleteMailbox');
        const id = encodeBase64url(mailboxId);
        relay.boxes.delete(id);
        // As the real relay: deleting a mailbox closes its nameplate.
        for (const [nameplate, box] of relay.nameplates) if (box === id) relay.nameplates.delete(nameplate);
      },
      watch(mailboxId, _readCap, afterSeq) {
        const id = encodeBase64url(mailboxId);
        if (mine.has(id)) return;
        const watch = { handlers, after: afterSeq };
        mine.set(id, watch);
        const set = relay.watchers.get(id) ?? new Set();
        relay.watchers.set(id, set);
        set.add(watch);
        if (relay.boxes.has(id)) deliver(id, watch);
        else {
          mine.delete(id);
          set.delete(watch);
          queueMicrotask(() => handlers.onMailboxGone(id));
        }
      },
      unwatch(mailboxId) {
        const id = encodeBase64url(mailboxId);
        const watch = mine.get(id);
        if (watch) relay.watchers.get(id)?.delete(watch);
        mine.delete(id);
      },
      resync(mailboxId) {
        const id = encodeBase64url(mailboxId);
        const watch = mine.get(id);
        if (watch) deliver(id, watch);
      },
      connected: true,
      get watchCount() {
        return mine.size;
      },
      socketCount: 1,
      close() {
        for (const [id, watch] of mine) relay.watchers.get(id)?.delete(watch);
        mine.clear();
      },
    };
  }
}

interface Watch {
  readonly handlers: RelayTransportHandlers;
  after: number;
}

/** A clock that moves only when the test says, running the agent's timers as it does. */
export class ManualClock implements AgentClock {
  private readonly timers = new Set<() => void>();
  constructor(public seconds: number) {}
  now(): number {
    return this.seconds;
  }
  every(_ms: number, run: () => void): () => void {
    this.timers.add(run);
    return () => this.timers.delete(run);
  }
  /** Moves `by` seconds ahead and fires every timer once. */
  advance(by: number): void {
    this.seconds += by;
    for (const run of this.timers) run();
  }
}
