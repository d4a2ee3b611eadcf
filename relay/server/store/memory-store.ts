import { hashMatches } from '../../wire/capabilities.js';
import { NAMEPLATE_ATTEMPTS, randomNameplate } from './nameplates.js';
import {
  type AddWriterResult,
  type AppendResult,
  type ClaimResult,
  type InboxStats,
  MAX_UNUSED_CLAIMS,
  type MailboxEvent,
  type MailboxInfo,
  type MailboxRecord,
  type MessageBounds,
  type RelayStore,
  type StoredMessage,
} from './store.js';

/** Mailboxes of one client address share this object (and so one copy of the address). */
interface Owner {
  readonly ip: string;
  count: number;
}

// Kept small on purpose: 10,000 waiting mailboxes must fit in ~2 KiB each (bench/relay.ts).
interface MemoryMailbox {
  readCapHash: string;
  writeCapHashes: string[];
  expiresAt: number;
  owner: Owner;
  /** null until the first message, to save an empty array per waiting mailbox. */
  messages: StoredMessage[] | null;
  nextSeq: number;
  nameplate: string | null;
  /** Code mailboxes: claims that have not posted yet, and how many claims may post. */
  unusedClaims: string[] | null;
  maxClaims: number;
  /** An inbox's writers and queue; null for a handshake mailbox. */
  inbox: MemoryInbox | null;
}

interface MemoryInbox {
  /**
   * The writers' capability hashes. A post looks up the SHA-256 of the capability it presents: a
   * hash-table probe keyed by a digest of the caller's own input, which (as Redis's SISMEMBER)
   * reveals nothing about any stored capability, and costs the same with 10,000 writers as with one.
   */
  readonly writers: Set<string>;
  /** Messages pending per writer (absent at zero): the bound that keeps one writer's flood its own. */
  readonly pending: Map<string, number>;
  /** The writer of each message in the mailbox's `messages`, in the same order. */
  readonly authors: string[];
}

interface MemoryNameplate {
  mailbox: string;
  expiresAt: number;
}

/**
 * The embedded store: plain maps, swept for expiry every few seconds and checked for expiry on
 * every access, so an expired record is never served even between sweeps. No per-record timers
 * (they would cost memory per waiting mailbox).
 */
export class MemoryStore implements RelayStore {
  readonly kind = 'memory';
  private readonly mailboxes = new Map<string, MemoryMailbox>();
  private readonly nameplates = new Map<string, MemoryNameplate>();
  /** Deleted mailboxes' ids, until they would have expired: never created again before then. */
  private readonly tombstones = new Map<string, number>();
  private readonly owners = new Map<string, Owner>();
  private readonly listeners = new Set<(event: MailboxEvent) => void>();
  private readonly sweeper: NodeJS.Timeout;
  readonly holdsSince: number;

  constructor(private readonly now: () => number = Date.now) {
    this.holdsSince = now();
    this.sweeper = setInterval(() => this.sweep(), 5_000);
    this.sweeper.unref();
  }

  async createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'> {
    if (this.live(id) || this.tombstoned(id)) return 'exists';
    let owner = this.owners.get(record.ownerIp);
    if (!owner) {
      owner = { ip: record.ownerIp, count: 0 };
      this.owners.set(record.ownerIp, owner);
    }
    owner.count++;
    this.mailboxes.set(id, {
      readCapHash: record.readCapHash,
      writeCapHashes: record.inbox ? [] : [...record.writeCapHashes],
      expiresAt: record.expiresAt,
      owner,
      messages: null,
      nextSeq: 1,
      nameplate: null,
      unusedClaims: null,
      maxClaims: 0,
      inbox: record.inbox
        ? { writers: new Set(record.writeCapHashes), pending: new Map(), authors: [] }
        : null,
    });
    return 'created';
  }

  async getMailbox(id: string): Promise<MailboxInfo | null> {
    const box = this.live(id);
    return box ? { readCapHash: box.readCapHash, expiresAt: box.expiresAt, inbox: box.inbox !== null } : null;
  }

  async appendMessage(
    id: string,
    writeCapHash: string,
    body: string,
    bounds: MessageBounds,
  ): Promise<AppendResult> {
    const box = this.live(id);
    if (!box) return { ok: false, reason: 'not_found' };
    if (box.inbox) return this.appendToInbox(id, box, box.inbox, writeCapHash, body, bounds);
    let promote = -1;
    if (!hashMatches(writeCapHash, box.writeCapHashes)) {
      promote = box.unusedClaims?.indexOf(writeCapHash) ?? -1;
      if (promote < 0) return { ok: false, reason: 'not_found' };
      if (box.writeCapHashes.length >= box.maxClaims) return { ok: false, reason: 'crowded' };
    }
    box.messages ??= [];
    if (box.messages.length >= bounds.perMailbox) return { ok: false, reason: 'full' };
    if (promote >= 0) box.writeCapHashes.push(...box.unusedClaims!.splice(promote, 1));
    return { ok: true, seq: this.store(id, box, body), inbox: false };
  }

  private appendToInbox(
    id: string,
    box: MemoryMailbox,
    inbox: MemoryInbox,
    writeCapHash: string,
    body: string,
    bounds: MessageBounds,
  ): AppendResult {
    if (!inbox.writers.has(writeCapHash)) return { ok: false, reason: 'not_found' };
    const pending = inbox.pending.get(writeCapHash) ?? 0;
    box.messages ??= [];
    if (pending >= bounds.perWriter || box.messages.length >= bounds.perInbox)
      return { ok: false, reason: 'full' };
    inbox.pending.set(writeCapHash, pending + 1);
    inbox.authors.push(writeCapHash);
    return { ok: true, seq: this.store(id, box, body), inbox: true };
  }

  /** Stores a message under the mailbox's next sequence number and publishes it. */
  private store(id: string, box: MemoryMailbox, body: string): number {
    const message = { seq: box.nextSeq++, body };
    box.messages ??= [];
    box.messages.push(message);
    this.emit({ type: 'message', mailbox: id, message });
    return message.seq;
  }

  async readMessages(id: string, afterSeq: number): Promise<StoredMessage[] | null> {
    const box = this.live(id);
    return box ? (box.messages ?? []).filter((m) => m.seq > afterSeq) : null;
  }

  async deleteMailbox(id: string): Promise<boolean> {
    const box = this.live(id);
    if (!box) return false;
    this.remove(id, box);
    this.tombstones.set(id, box.expiresAt);
    return true;
  }

  private tombstoned(id: string): boolean {
    const until = this.tombstones.get(id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.tombstones.delete(id);
    return false;
  }

  async countMailboxes(ip: string): Promise<number> {
    return this.owners.get(ip)?.count ?? 0;
  }

  async renewInbox(id: string, expiresAt: number): Promise<number | null> {
    const box = this.live(id);
    if (!box?.inbox) return null;
    box.expiresAt = Math.max(box.expiresAt, expiresAt);
    return box.expiresAt;
  }

  async addWriter(id: string, writeCapHash: string, maxWriters: number): Promise<AddWriterResult> {
    const inbox = this.live(id)?.inbox;
    if (!inbox) return { ok: false, reason: 'not_found' };
    if (!inbox.writers.has(writeCapHash)) {
      if (inbox.writers.size >= maxWriters) return { ok: false, reason: 'too_many_writers' };
      inbox.writers.add(writeCapHash);
    }
    return { ok: true, writers: inbox.writers.size };
  }

  async revokeWriter(id: string, writeCapHash: string): Promise<boolean | null> {
    const inbox = this.live(id)?.inbox;
    return inbox ? inbox.writers.delete(writeCapHash) : null;
  }

  async trimInbox(id: string, throughSeq: number): Promise<number | null> {
    const box = this.live(id);
    if (!box?.inbox) return null;
    const messages = box.messages ?? [];
    let count = 0;
    while (count < messages.length && messages[count]!.seq <= throughSeq) count++;
    messages.splice(0, count);
    for (const author of box.inbox.authors.splice(0, count)) {
      const left = (box.inbox.pending.get(author) ?? 1) - 1;
      if (left > 0) box.inbox.pending.set(author, left);
      else box.inbox.pending.delete(author);
    }
    return count;
  }

  async inboxStats(): Promise<InboxStats> {
    const now = this.now();
    let inboxes = 0;
    let writers = 0;
    for (const box of this.mailboxes.values()) {
      if (!box.inbox || box.expiresAt <= now) continue;
      inboxes++;
      writers += box.inbox.writers.size;
    }
    return { inboxes, writers };
  }

  async createNameplate(mailbox: string, maxClaims: number, expiresAt: number): Promise<string | null> {
    const box = this.live(mailbox);
    if (!box) return null;
    for (const length of NAMEPLATE_ATTEMPTS) {
      const name = randomNameplate(length);
      const existing = this.nameplates.get(name);
      if (existing && existing.expiresAt > this.now()) continue;
      if (box.nameplate) this.nameplates.delete(box.nameplate);
      this.nameplates.set(name, { mailbox, expiresAt });
      box.nameplate = name;
      box.maxClaims = maxClaims;
      return name;
    }
    return null;
  }

  async claimNameplate(nameplate: string, writeCapHash: string): Promise<ClaimResult> {
    const entry = this.nameplates.get(nameplate);
    const box = entry && entry.expiresAt > this.now() ? this.live(entry.mailbox) : null;
    if (!entry || !box) return { ok: false, reason: 'not_found' };
    if (box.writeCapHashes.length >= box.maxClaims) return { ok: false, reason: 'crowded' };
    box.unusedClaims ??= [];
    box.unusedClaims.push(writeCapHash);
    if (box.unusedClaims.length > MAX_UNUSED_CLAIMS) box.unusedClaims.shift();
    return { ok: true, mailbox: entry.mailbox, expiresAt: entry.expiresAt };
  }

  subscribe(listener: (event: MailboxEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async mailboxCount(): Promise<number> {
    return this.mailboxes.size + this.tombstones.size;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.listeners.clear();
  }

  private live(id: string): MemoryMailbox | null {
    const box = this.mailboxes.get(id);
    if (!box) return null;
    if (box.expiresAt > this.now()) return box;
    this.remove(id, box);
    return null;
  }

  private remove(id: string, box: MemoryMailbox): void {
    this.mailboxes.delete(id);
    if (box.nameplate) this.nameplates.delete(box.nameplate);
    if (--box.owner.count === 0) this.owners.delete(box.owner.ip);
    this.emit({ type: 'closed', mailbox: id });
  }

  private emit(event: MailboxEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Drops everything expired; public for tests that move the clock. */
  sweep(): void {
    const now = this.now();
    for (const [id, box] of this.mailboxes) if (box.expiresAt <= now) this.remove(id, box);
    for (const [name, entry] of this.nameplates) if (entry.expiresAt <= now) this.nameplates.delete(name);
    for (const [id, until] of this.tombstones) if (until <= now) this.tombstones.delete(id);
  }
}
