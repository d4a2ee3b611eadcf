import { Redis } from 'ioredis';
import { NAMEPLATE_ATTEMPTS, randomNameplate } from './nameplates.js';
import { SCRIPTS } from './redis-scripts.js';
import {
  type AppendResult,
  type ClaimResult,
  MAX_UNUSED_CLAIMS,
  type MailboxEvent,
  type MailboxRecord,
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

  async createMailbox(id: string, record: MailboxRecord): Promise<'created' | 'exists'> {
    const created = await this.redis.plCreate(
      this.key('mb', id),
      this.key('mb', id, ':w'),
      this.key('ip', record.ownerIp),
      `${this.prefix}all`,
      `${this.prefix}gone:${id}`,
      record.readCapHash,
      record.expiresAt,
      record.ownerIp,
      id,
      this.now(),
      ...record.writeCapHashes,
    );
    return created === 1 ? 'created' : 'exists';
  }

  async getMailbox(id: string): Promise<MailboxRecord | null> {
    const [[, fields], [, writes]] = (await this.redis
      .multi()
      .hgetall(this.key('mb', id))
      .smembers(this.key('mb', id, ':w'))
      .exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
    if (!fields?.r || !fields.e || Number(fields.e) <= this.now()) return null;
    return {
      readCapHash: fields.r,
      writeCapHashes: writes ?? [],
      expiresAt: Number(fields.e),
      ownerIp: fields.ip ?? '',
    };
  }

  async appendMessage(
    id: string,
    writeCapHash: string,
    body: string,
    maxMessages: number,
  ): Promise<AppendResult> {
    const [ok, value] = (await this.redis.plAppend(
      this.key('mb', id),
      this.key('mb', id, ':m'),
      this.key('mb', id, ':w'),
      this.key('mb', id, ':u'),
      body,
      maxMessages,
      this.channel,
      id,
      writeCapHash,
    )) as [number, string | number];
    if (ok === 1) return { ok: true, seq: Number(value) };
    return { ok: false, reason: value === 'full' || value === 'crowded' ? value : 'not_found' };
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
      id,
      this.channel,
      this.prefix,
    );
    return deleted === 1;
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
