import { PairlinkError } from '../src/errors.js';
import type { RelayTransport, RelayTransportFactory } from './relay-transport.js';

/** At most this many relays at once (the home relay included), unless the agent says otherwise. */
export const DEFAULT_RELAY_LIMIT = 32;

/** What the pool tells the agent, each with the relay it came from. */
export interface RelayPoolHandlers {
  onMessage(relayUrl: string, mailbox: string, seq: number, body: Uint8Array): void;
  onMailboxGone(relayUrl: string, mailbox: string): void;
  onConnectionChange(relayUrl: string, connected: boolean): void;
  onTrouble(relayUrl: string, error: PairlinkError): void;
}

/** One relay's state, for agent.info and the metrics. */
export interface RelayUse {
  readonly url: string;
  readonly home: boolean;
  readonly connected: boolean;
  readonly watches: number;
  readonly sockets: number;
}

/** A relay URL as the pool keys it: without a trailing slash, so `https://r/` and `https://r` are one. */
export function relayKey(url: string): string {
  return url.replace(/\/+$/, '');
}

interface Member {
  transport: RelayTransport;
  connected: boolean;
  /** Callers holding it open (a code's claim before its record exists). */
  holds: number;
}

/**
 * The agent's relays: its home relay, always open, and every relay an invite or accept of its own
 * runs on (a link names its issuer's relay; a code may be claimed on another relay). Each is
 * opened on demand through the factory the agent's root passed in, and closed once no record
 * uses it; at most `limit` at once, past which RELAY_LIMIT (never a hang). Each member is a
 * full transport with its own timeouts, reconnects and watch spreading.
 */
export class RelayPool {
  private readonly members = new Map<string, Member>();
  /** Closed with the agent: nothing opens again (a receipt in flight would reconnect for ever). */
  private closed = false;
  readonly homeUrl: string;

  constructor(
    homeUrl: string,
    private readonly factory: RelayTransportFactory,
    private readonly handlers: RelayPoolHandlers,
    readonly limit = DEFAULT_RELAY_LIMIT,
  ) {
    this.homeUrl = relayKey(homeUrl);
    this.open(this.homeUrl);
  }

  get home(): RelayTransport {
    return this.get(this.homeUrl);
  }

  /** The transport for `url`, opened now if it is not open; RELAY_LIMIT when the pool is full. */
  get(url: string): RelayTransport {
    const key = relayKey(url);
    return (this.members.get(key) ?? this.open(key)).transport;
  }

  /** Whether `url` is open (or would not need a new connection). */
  has(url: string): boolean {
    return this.members.has(relayKey(url));
  }

  /**
   * Holds `url` open while `run` runs (a code's claim, before a record names the relay), then lets
   * the next sweep close it if nothing else uses it.
   */
  async holding<T>(url: string, run: (relay: RelayTransport) => Promise<T>): Promise<T> {
    const key = relayKey(url);
    const member = this.members.get(key) ?? this.open(key);
    member.holds++;
    try {
      return await run(member.transport);
    } finally {
      member.holds--;
    }
  }

  /** Closes every relay but home that no record in `inUse` (relay keys) names and nobody holds. */
  sweep(inUse: ReadonlySet<string>): void {
    for (const [key, member] of this.members) {
      if (key === this.homeUrl || inUse.has(key) || member.holds > 0 || member.transport.watchCount > 0)
        continue;
      this.members.delete(key);
      member.transport.close();
    }
  }

  get size(): number {
    return this.members.size;
  }

  /** Every open relay, home first. */
  uses(): RelayUse[] {
    return [...this.members].map(([url, m]) => ({
      url,
      home: url === this.homeUrl,
      connected: m.connected,
      watches: m.transport.watchCount,
      sockets: m.transport.socketCount,
    }));
  }

  close(): void {
    this.closed = true;
    for (const member of this.members.values()) member.transport.close();
    this.members.clear();
  }

  private open(key: string): Member {
    if (this.closed) throw new PairlinkError('AGENT_UNAVAILABLE', 'the agent is stopping');
    if (this.members.size >= this.limit)
      throw new PairlinkError(
        'RELAY_LIMIT',
        `this agent already uses ${this.limit} relays at once; try again when one of its invites or accepts ends`,
      );
    const member = { connected: false, holds: 0 } as Member;
    member.transport = this.factory(key, {
      onMessage: (mailbox, seq, body) => this.handlers.onMessage(key, mailbox, seq, body),
      onMailboxGone: (mailbox) => this.handlers.onMailboxGone(key, mailbox),
      onConnectionChange: (connected) => {
        member.connected = connected;
        this.handlers.onConnectionChange(key, connected);
      },
      onTrouble: (error) => this.handlers.onTrouble(key, error),
    });
    this.members.set(key, member);
    return member;
  }
}
