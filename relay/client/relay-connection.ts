import type { LookupFunction } from 'node:net';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { PairlinkError } from '../../src/errors.js';
import { MAX_REVOKED_PER_OP } from '../wire/ws-ops.js';
import { InboxRequests } from './inbox-requests.js';
import { RelayClient } from './relay-client.js';
import type { RelayEndpoint } from './relay-endpoint.js';
import { RelayAnswerError } from './relay-failure.js';
import { RelaySocket, type SocketTimings } from './relay-socket.js';

/** What the connection tells its owner (the agent's transport port has the same shape). */
export interface RelayConnectionHandlers {
  /** A message in a watched mailbox, in sequence order, each once. */
  onMessage(mailbox: string, seq: number, body: Uint8Array): void;
  /** The relay refused a watch for good: the mailbox is gone or the capability is refused. */
  onMailboxGone(mailbox: string): void;
  onConnectionChange(connected: boolean): void;
  /**
   * Talking to the relay failed (no connection, a certificate not trusted here, an answer no
   * relay gives), with the relay and the reason in the error: for the owner's log. Refusals in
   * the relay's own words are not trouble: they reach the caller alone.
   */
  onTrouble?(error: PairlinkError): void;
}

export interface RelayConnectionOptions extends RelayEndpoint {
  /** Watches per socket before another socket is opened; the relay's default limit is 256. */
  readonly watchesPerSocket?: number;
  readonly httpTimeoutMs?: number;
  readonly socket?: Partial<SocketTimings>;
}

interface Shard {
  readonly socket: RelaySocket;
  /** Lowered to what the relay accepted when it refuses a watch as one too many. */
  capacity: number;
  /** Watches it carries. */
  count: number;
}

/**
 * Posts `bodies` one after the other, each once the one before it was taken: one promise per body,
 * and once one fails, those after it fail with it, unsent (postInOrder where nothing keeps order).
 */
export function postOneAfterAnother(
  bodies: readonly Uint8Array[],
  post: (body: Uint8Array) => Promise<void>,
): Promise<void>[] {
  let previous = Promise.resolve();
  return bodies.map((body) => (previous = previous.then(() => post(body))));
}

/**
 * The agent's connection to its relay: WebSockets for pushes, posts and (where the relay takes
 * them, WS_OPS_HEADER) mailbox creation and deletion and an inbox's writers; HTTP for nameplates,
 * an inbox's create, renew and trim and, when no socket is
 * up or the relay is older, for the rest. Watches are spread over as many sockets as they need
 * (the relay caps watches per socket), so an agent with 10,000 pending invites hears every one.
 * A socket is opened only when the ones before it are full; the first one always exists, so
 * posts can use it.
 */
export class RelayConnection {
  private readonly client: RelayClient;
  private readonly inboxes: InboxRequests;
  private readonly shards: Shard[] = [];
  /** Which shard carries each watched mailbox (base64url id). */
  private readonly shardOf = new Map<string, Shard>();
  private readonly watchesPerSocket: number;

  constructor(
    private readonly baseUrl: string,
    private readonly handlers: RelayConnectionHandlers,
    private readonly options: RelayConnectionOptions = {},
  ) {
    this.client = new RelayClient(baseUrl, options.httpTimeoutMs ?? 10_000, options);
    this.inboxes = new InboxRequests(this.client);
    this.watchesPerSocket = options.watchesPerSocket ?? 256;
    this.addShard();
  }

  get connected(): boolean {
    return this.shards[0]?.socket.connected ?? false;
  }

  get watchCount(): number {
    return this.shardOf.size;
  }

  get socketCount(): number {
    return this.shards.length;
  }

  /** When the relay last answered as a relay does, over HTTP or a socket (Unix ms); null: never. */
  get answeredAt(): number | null {
    const times = [this.client.answeredAt, ...this.shards.map((s) => s.socket.answeredAt)];
    const answered = times.filter((t): t is number => t !== undefined);
    return answered.length === 0 ? null : Math.max(...answered);
  }

  /** An HTTP exchange; a failure that is not the relay's own refusal is reported as trouble too. */
  private async http<T>(exchange: (client: RelayClient) => Promise<T>): Promise<T> {
    try {
      return await exchange(this.client);
    } catch (error) {
      const refusal = error instanceof RelayAnswerError && error.relayError !== '';
      if (error instanceof PairlinkError && !refusal) this.handlers.onTrouble?.(error);
      throw error;
    }
  }

  async createMailbox(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array | null,
    ttlSeconds: number,
  ): Promise<void> {
    const socket = this.mailboxSocket();
    try {
      if (socket) await socket.createMailbox(mailboxId, readCap, writeCap, ttlSeconds);
      else await this.http((c) => c.createMailbox(mailboxId, readCap, writeCap, ttlSeconds));
    } catch (error) {
      // Our ids are random: a taken one means an earlier attempt of ours made it (creating is
      // idempotent for the caller).
      if (!isExistsAnswer(error)) throw error;
    }
  }

  /**
   * The first socket when it is up and the relay takes mailbox operations there (WS_OPS_HEADER):
   * no HTTP exchange, and no new TCP (and TLS) connection once HTTP keep-alive has lapsed, as it
   * does between pairings. Null: use HTTP.
   */
  private mailboxSocket(): RelaySocket | null {
    const socket = this.shards[0]!.socket;
    return socket.connected && socket.mailboxOps ? socket : null;
  }

  createNameplate(mailboxId: Uint8Array, readCap: Uint8Array, maxClaims: number) {
    return this.http((c) => c.createNameplate(mailboxId, readCap, maxClaims));
  }

  claimNameplate(nameplate: string) {
    return this.http((c) => c.claimNameplate(nameplate));
  }

  storeSince(): Promise<number | undefined> {
    return this.http((c) => c.storeSince());
  }

  /**
   * Creates our inbox (over HTTP, as inboxes are): its expiry, or null when the relay keeps no
   * inboxes (it answers the create 400). A taken id is ours from an earlier attempt: renewed.
   */
  async createInbox(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number | null> {
    try {
      return await this.http(() => this.inboxes.create(mailboxId, readCap, ttlSeconds));
    } catch (error) {
      if (isExistsAnswer(error)) return this.renewInbox(mailboxId, readCap, ttlSeconds);
      if (error instanceof RelayAnswerError && error.status === 400) return null;
      throw error;
    }
  }

  renewInbox(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number> {
    return this.http(() => this.inboxes.renew(mailboxId, readCap, ttlSeconds));
  }

  /** Over the first socket where the relay takes writer ops there (WS_OPS_HEADER), else over HTTP. */
  async addInboxWriter(mailboxId: Uint8Array, readCap: Uint8Array, writeCap: Uint8Array): Promise<void> {
    const socket = this.writerSocket();
    if (socket) await this.inboxes.addWriter(mailboxId, readCap, writeCap, socket);
    else await this.http(() => this.inboxes.addWriter(mailboxId, readCap, writeCap));
  }

  /**
   * In one op per MAX_REVOKED_PER_OP where the relay takes revoke_writers over the socket; else
   * one revoke per capability, over the socket or HTTP.
   */
  async revokeInboxWriter(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCaps: readonly Uint8Array[],
  ): Promise<void> {
    for (let i = 0; i < writeCaps.length; i += MAX_REVOKED_PER_OP) {
      const batch = writeCaps.slice(i, i + MAX_REVOKED_PER_OP);
      const socket = this.writerSocket();
      if (socket?.revokesBatched) {
        await this.inboxes.revokeWriters(mailboxId, readCap, batch, socket);
        continue;
      }
      for (const writeCap of batch)
        if (socket) await this.inboxes.revokeWriter(mailboxId, readCap, writeCap, socket);
        else await this.http(() => this.inboxes.revokeWriter(mailboxId, readCap, writeCap));
    }
  }

  private writerSocket(): RelaySocket | null {
    const socket = this.shards[0]!.socket;
    return socket.connected && socket.writerOps ? socket : null;
  }

  async trimInbox(mailboxId: Uint8Array, readCap: Uint8Array, throughSeq: number): Promise<void> {
    await this.http(() => this.inboxes.trim(mailboxId, readCap, throughSeq));
  }

  /** Over the first socket when it is up, else over HTTP. */
  async post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<void> {
    const socket = this.shards[0]!.socket;
    if (socket.connected) await socket.post(mailboxId, writeCap, body);
    else await this.http((c) => c.post(mailboxId, writeCap, body));
  }

  /**
   * Posts `bodies` to one mailbox in order, each only after the one before it was stored: together
   * over the first socket when its relay keeps a socket's posts in that order (post_after), else
   * one after the other (over HTTP, two requests may reach the relay in either order).
   */
  postInOrder(mailboxId: Uint8Array, writeCap: Uint8Array, bodies: readonly Uint8Array[]): Promise<void>[] {
    const socket = this.shards[0]!.socket;
    if (socket.connected && socket.postsAfter)
      return socket.postInOrder(mailboxId, writeCap, bodies).map((posted) => posted.then(() => undefined));
    return postOneAfterAnother(bodies, (body) => this.post(mailboxId, writeCap, body));
  }

  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    try {
      const socket = this.mailboxSocket();
      if (socket) await socket.deleteMailbox(mailboxId, readCap);
      else await this.http((c) => c.deleteMailbox(mailboxId, readCap));
    } catch (error) {
      // Already gone is what we wanted.
      if (!(error instanceof PairlinkError) || error.code !== 'INVITE_NOT_FOUND') throw error;
    }
  }

  watch(mailboxId: Uint8Array, readCap: Uint8Array, afterSeq: number): void {
    const id = encodeBase64url(mailboxId);
    let shard = this.shardOf.get(id);
    if (!shard) {
      shard = this.shardWithRoom();
      this.assign(id, shard);
    }
    shard.socket.watch(id, readCap, afterSeq);
  }

  unwatch(mailboxId: Uint8Array): void {
    const id = encodeBase64url(mailboxId);
    const shard = this.shardOf.get(id);
    if (!shard) return;
    this.release(id, shard);
    shard.socket.unwatch(id);
  }

  resync(mailboxId: Uint8Array): void {
    const id = encodeBase64url(mailboxId);
    this.shardOf.get(id)?.socket.resync(id);
  }

  close(): void {
    for (const shard of this.shards) shard.socket.close();
    this.client.close();
  }

  private shardWithRoom(): Shard {
    return this.shards.find((s) => s.count < s.capacity) ?? this.addShard();
  }

  private assign(id: string, shard: Shard): void {
    this.shardOf.set(id, shard);
    shard.count++;
  }

  private release(id: string, shard: Shard): void {
    this.shardOf.delete(id);
    shard.count--;
  }

  private addShard(): Shard {
    const shard: Shard = {
      capacity: this.watchesPerSocket,
      count: 0,
      socket: new RelaySocket(
        this.baseUrl,
        {
          onMessage: (mailbox, message) => this.handlers.onMessage(mailbox, message.seq, message.body),
          onClosed: (mailbox) => {
            if (this.shardOf.get(mailbox) !== shard) return;
            this.release(mailbox, shard);
            this.handlers.onMailboxGone(mailbox);
          },
          onWatchRejected: (mailbox) => this.move(shard, mailbox),
          // Posts go over the first socket: its state is the connection's.
          onConnectionChange: (connected) => {
            if (shard === this.shards[0]) this.handlers.onConnectionChange(connected);
          },
          onTrouble: (error) => this.handlers.onTrouble?.(error),
        },
        this.options.socket,
        this.options,
      ),
    };
    this.shards.push(shard);
    return shard;
  }

  /** The relay refused one more watch on `from`: it is full at what it holds now. */
  private move(from: Shard, mailbox: string): void {
    const position = from.socket.watched(mailbox);
    if (!position || this.shardOf.get(mailbox) !== from) return;
    from.socket.unwatch(mailbox);
    this.release(mailbox, from);
    from.capacity = Math.max(1, from.count);
    const to = this.shardWithRoom();
    this.assign(mailbox, to);
    to.socket.watch(mailbox, position.cap, position.lastSeq);
  }
}

/** True when a relay error says a mailbox id is taken, which for our own random ids means we made it. */
export function isExistsAnswer(error: unknown): boolean {
  return error instanceof RelayAnswerError && error.status === 409 && error.relayError === 'exists';
}

/**
 * The agent's transport factory (agent/relay-transport.ts `RelayTransportFactory`, matched by
 * shape): a RelayConnection per relay, each name resolved and checked before every connection,
 * each https/wss one checked against `options.ca` when given.
 */
export function relayConnector(
  lookupFor: (relayUrl: string) => LookupFunction | undefined,
  options: Omit<RelayConnectionOptions, 'lookup'> = {},
): (relayUrl: string, handlers: RelayConnectionHandlers) => RelayConnection {
  return (relayUrl, handlers) => {
    const lookup = lookupFor(relayUrl);
    return new RelayConnection(relayUrl, handlers, lookup ? { ...options, lookup } : options);
  };
}
