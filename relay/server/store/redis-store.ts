import { Redis } from 'ioredis';
import { NAMEPLATE_ATTEMPTS, randomNameplate } from './nameplates.js';
import { SCRIPTS } from './redis-scripts.js';
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

type ScriptName = keyof typeof SCRIPTS;
type ScriptedRedis = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

/** The Redis-backed store (its layout: redis-scripts.ts); several relay instances may share one Redis. */
export class RedisStore implements RelayStore {
  readonly kind = 'redis';
  readonly holdsSince = undefined;
  private readonly redis: ScriptedRedis;
  private subscriber: Redis | null = null;
  private readonly listeners = new Set<(event: MailboxEvent) => void>();
  private readonly channel: string;

  /** Connects to `url`; every key starts with `prefix` (so tests and tenants can share a Redis). */
  constructor(
    url: string,
    private readonly prefix = 'pl:',
    private readonly now: () => number = Date.now,
    /** Hears each connection error (ioredis reconnects by itself; without a listener it prints a stack). */
    private readonly onConnectionError: (error: Error) => void = () => {},
  ) {
    this.redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      enableAutoPipelining: true,
    }) as ScriptedRedis;
    this.redis.on('error', this.onConnectionError);
    for (const [name, script] of Object.entries(SCRIPTS)) {
      this.redis.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    }
    this.channel = `${prefix}events`;
  }

  /** Resolves once both connections are up and subscribed; rejects if Redis cannot be reached. */
  async connect(): Promise<void> {
    await this.redis.ping();
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', this.onConnectionError);
    this.subscriber.on('message', (_channel: string, payload: string) => {
      let event: MailboxEvent;
      try {
        event = JSON.parse(payload) as MailboxEvent;
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(event);
    });
    await this.subscriber.subscribe(this.channel);
  }

  private key(kind: 'mb' | 'np' | 'ip', id: string, suffix = ''): string {
    return `${this.prefix}${kind}:${id}${suffix}`;
  }

  /** The keys the inbox gauges are kept in: {p}inboxes, {p}iw, {p}iwn. */
  private gaugeKeys(): [string, string, string] {
    return [`${this.prefix}inboxes`, `${this.prefix}iw`, `${this.prefix}iwn`];
  }

  async createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'> {
    const created = await this.redis.plCreate(
      this.key('mb', id),
      this.key('mb', id, record.inbox ? ':i' : ':w'),
      this.key('ip', record.ownerIp),
      `${this.prefix}all`,
      `${this.prefix}gone:${id}`,
      ...this.gaugeKeys(),
      record.readCapHash,
      record.expiresAt,
      record.ownerIp,
      id,
      this.now(),
      record.inbox ? 1 : 0,
      ...record.writeCapHashes,
    );
    return created === 1 ? 'created' : 'exists';
  }

  async getMailbox(id: string): Promise<MailboxInfo | null> {
    // Never the write set: an inbox's may hold 16,384 hashes, and authorizing its owner needs none.
    const [readCapHash, expiresAt, inbox] = await this.redis.hmget(this.key('mb', id), 'r', 'e', 'ib');
    if (!readCapHash || !expiresAt || Number(expiresAt) <= this.now()) return null;
    return { readCapHash, expiresAt: Number(expiresAt), inbox: inbox !== null };
  }

  async appendMessage(
    id: string,
    writeCapHash: string,
    body: string,
    bounds: MessageBounds,
  ): Promise<AppendResult> {
    const [ok, value] = (await this.redis.plAppend(
      this.key('mb', id),
      this.key('mb', id, ':m'),
      this.key('mb', id, ':w'),
      this.key('mb', id, ':u'),
      body,
      bounds.perMailbox,
      this.channel,
      id,
      writeCapHash,
    )) as [number, string | number];
    if (ok === 1) return { ok: true, seq: Number(value), inbox: false };
    if (value === 'inbox') return this.appendToInbox(id, writeCapHash, body, bounds);
    return { ok: false, reason: value === 'full' || value === 'crowded' ? value : 'not_found' };
  }

  private async appendToInbox(
    id: string,
    writeCapHash: string,
    body: string,
    bounds: MessageBounds,
  ): Promise<AppendResult> {
    const [ok, value] = (await this.redis.plInboxAppend(
      this.key('mb', id),
      this.key('mb', id, ':m'),
      this.key('mb', id, ':i'),
      this.key('mb', id, ':a'),
      this.key('mb', id, ':c'),
      body,
      this.channel,
      id,
      writeCapHash,
      bounds.perInbox,
      bounds.perWriter,
    )) as [number, string | number];
    if (ok === 1) return { ok: true, seq: Number(value), inbox: true };
    return { ok: false, reason: value === 'full' ? value : 'not_found' };
  }

  async readMessages(id: string, afterSeq: number): Promise<StoredMessage[] | null> {
    const [[, exists], [, raw]] = (await this.redis
      .multi()
      .exists(this.key('mb', id))
      .lrange(this.key('mb', id, ':m'), 0, -1)
      .exec()) as [[unknown, number], [unknown, string[]]];
    if (exists !== 1) return null;
    const messages: StoredMessage[] = [];
    for (const entry of raw) {
      const colon = entry.indexOf(':');
      const seq = Number(entry.slice(0, colon));
      if (seq > afterSeq) messages.push({ seq, body: entry.slice(colon + 1) });
    }
    return messages;
  }

  async deleteMailbox(id: string): Promise<boolean> {
    const deleted = await this.redis.plDelete(
      this.key('mb', id),
      this.key('mb', id, ':w'),
      this.key('mb', id, ':m'),
      this.key('mb', id, ':u'),
      `${this.prefix}gone:${id}`,
      this.key('mb', id, ':a'),
      this.key('mb', id, ':c'),
      ...this.gaugeKeys(),
      this.key('mb', id, ':i'),
      id,
      this.channel,
      this.prefix,
    );
    return deleted === 1;
  }

  async renewInbox(id: string, expiresAt: number): Promise<number | null> {
    const renewed = await this.redis.plRenew(
      this.key('mb', id),
      this.key('mb', id, ':i'),
      this.key('mb', id, ':m'),
      this.key('mb', id, ':a'),
      this.key('mb', id, ':c'),
      `${this.prefix}inboxes`,
      expiresAt,
      id,
      this.prefix,
    );
    return renewed === 0 ? null : Number(renewed);
  }

  async addWriter(id: string, writeCapHash: string, maxWriters: number): Promise<AddWriterResult> {
    const [, counts, total] = this.gaugeKeys();
    const writers = Number(
      await this.redis.plAddWriter(
        this.key('mb', id),
        this.key('mb', id, ':i'),
        counts,
        total,
        writeCapHash,
        maxWriters,
        id,
      ),
    );
    if (writers === -1) return { ok: false, reason: 'not_found' };
    if (writers === -2) return { ok: false, reason: 'too_many_writers' };
    return { ok: true, writers };
  }

  async revokeWriter(id: string, writeCapHash: string): Promise<boolean | null> {
    const [, counts, total] = this.gaugeKeys();
    const revoked = Number(
      await this.redis.plRevokeWriter(
        this.key('mb', id),
        this.key('mb', id, ':i'),
        counts,
        total,
        writeCapHash,
        id,
      ),
    );
    return revoked === -1 ? null : revoked === 1;
  }

  async trimInbox(id: string, throughSeq: number): Promise<number | null> {
    const trimmed = Number(
      await this.redis.plTrim(
        this.key('mb', id),
        this.key('mb', id, ':m'),
        this.key('mb', id, ':a'),
        this.key('mb', id, ':c'),
        throughSeq,
      ),
    );
    return trimmed === -1 ? null : trimmed;
  }

  async inboxStats(): Promise<InboxStats> {
    const [inboxes, writers] = (await this.redis.plInboxStats(...this.gaugeKeys(), this.now())) as [
      number,
      number,
    ];
    return { inboxes, writers };
  }

  async countMailboxes(ip: string): Promise<number> {
    return this.countLive(this.key('ip', ip));
  }

  /** Members of an expiry-scored sorted set that have not expired (dropping those that have). */
  private async countLive(key: string): Promise<number> {
    const [, [, count]] = (await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', this.now())
      .zcard(key)
      .exec()) as [unknown, [unknown, number]];
    return count;
  }

  async createNameplate(mailbox: string, maxClaims: number, expiresAt: number): Promise<string | null> {
    for (const length of NAMEPLATE_ATTEMPTS) {
      const name = randomNameplate(length);
      const result = await this.redis.plNameplate(
        this.key('np', name),
        this.key('mb', mailbox),
        mailbox,
        maxClaims,
        expiresAt,
        name,
        this.prefix,
      );
      if (result === -1) return null;
      if (result === 1) return name;
    }
    return null;
  }

  async claimNameplate(nameplate: string, writeCapHash: string): Promise<ClaimResult> {
    const [ok, mailbox, expiresAt] = (await this.redis.plClaim(
      this.key('np', nameplate),
      this.prefix,
      writeCapHash,
      MAX_UNUSED_CLAIMS,
    )) as [number, string, string?];
    if (ok === 1) return { ok: true, mailbox, expiresAt: Number(expiresAt) };
    return { ok: false, reason: mailbox === 'crowded' ? 'crowded' : 'not_found' };
  }

  subscribe(listener: (event: MailboxEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async mailboxCount(): Promise<number> {
    return this.countLive(`${this.prefix}all`);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.allSettled([this.subscriber?.quit(), this.redis.quit()]);
  }
}
