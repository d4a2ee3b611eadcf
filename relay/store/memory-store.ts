import { hashMatches } from '../capabilities.js';
import { NAMEPLATE_ATTEMPTS, randomNameplate } from './nameplates.js';
import type {
  AppendResult,
  ClaimResult,
  MailboxEvent,
  MailboxRecord,
  RelayStore,
  StoredMessage,
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
}

interface MemoryNameplate {
  mailbox: string;
  maxClaims: number;
  claims: number;
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
  private readonly owners = new Map<string, Owner>();
  private readonly listeners = new Set<(event: MailboxEvent) => void>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 5_000);
    this.sweeper.unref();
  }

  async createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'> {
    if (this.live(id)) return 'exists';
    let owner = this.owners.get(record.ownerIp);
    if (!owner) {
      owner = { ip: record.ownerIp, count: 0 };
      this.owners.set(record.ownerIp, owner);
    }
    owner.count++;
    this.mailboxes.set(id, {
      readCapHash: record.readCapHash,
      writeCapHashes: [...record.writeCapHashes],
      expiresAt: record.expiresAt,
      owner,
      messages: null,
      nextSeq: 1,
      nameplate: null,
    });
    return 'created';
  }

  async getMailbox(id: string): Promise<MailboxRecord | null> {
    const box = this.live(id);
    return box
      ? {
          readCapHash: box.readCapHash,
          writeCapHashes: box.writeCapHashes,
          expiresAt: box.expiresAt,
          ownerIp: box.owner.ip,
        }
      : null;
  }

  async addWriteCapHash(id: string, hash: string): Promise<boolean> {
    const box = this.live(id);
    if (!box) return false;
    box.writeCapHashes.push(hash);
    return true;
  }

  async appendMessage(
    id: string,
    writeCapHash: string,
    body: string,
    maxMessages: number,
  ): Promise<AppendResult> {
    const box = this.live(id);
    if (!box || !hashMatches(writeCapHash, box.writeCapHashes)) return { ok: false, reason: 'not_found' };
    box.messages ??= [];
    if (box.messages.length >= maxMessages) return { ok: false, reason: 'full' };
    const message = { seq: box.nextSeq++, body };
    box.messages.push(message);
    this.emit({ type: 'message', mailbox: id, message });
    return { ok: true, seq: message.seq };
  }

  async readMessages(id: string, afterSeq: number): Promise<StoredMessage[] | null> {
    const box = this.live(id);
    return box ? (box.messages ?? []).filter((m) => m.seq > afterSeq) : null;
  }

  async deleteMailbox(id: string): Promise<boolean> {
    const box = this.live(id);
    if (!box) return false;
    this.remove(id, box);
    return true;
  }

  async countMailboxes(ip: string): Promise<number> {
    return this.owners.get(ip)?.count ?? 0;
  }

  async createNameplate(mailbox: string, maxClaims: number, expiresAt: number): Promise<string | null> {
    const box = this.live(mailbox);
    if (!box) return null;
    for (const length of NAMEPLATE_ATTEMPTS) {
      const name = randomNameplate(length);
      const existing = this.nameplates.get(name);
      if (existing && existing.expiresAt > this.now()) continue;
      if (box.nameplate) this.nameplates.delete(box.nameplate);
      this.nameplates.set(name, { mailbox, maxClaims, claims: 0, expiresAt });
      box.nameplate = name;
      return name;
    }
    return null;
  }

  async claimNameplate(nameplate: string): Promise<ClaimResult> {
    const entry = this.nameplates.get(nameplate);
    if (!entry || entry.expiresAt <= this.now() || !this.live(entry.mailbox))
      return { ok: false, reason: 'not_found' };
    if (entry.claims >= entry.maxClaims) return { ok: false, reason: 'crowded' };
    entry.claims++;
    return { ok: true, mailbox: entry.mailbox, expiresAt: entry.expiresAt };
  }

  subscribe(listener: (event: MailboxEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async mailboxCount(): Promise<number> {
    return this.mailboxes.size;
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
  }
}
