import pino, { type Logger } from 'pino';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { FaultProxy } from './fault-proxy.js';

/** How a fault run sets up one of its relays. */
export interface FaultRelayOptions {
  /** Seeds the proxy's fault choices. */
  readonly seed: number;
  /** A Redis store (durable across restarts), or a memory store (lost by each restart). */
  readonly redisUrl?: string | undefined;
  /** Keeps this relay's keys apart from every other relay's on the same Redis. */
  readonly redisPrefix: string;
  /** Where the relay logs; silent by default. */
  readonly logger?: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One relay of a fault run behind its own FaultProxy: agents only ever see the proxy's URL, so the
 * relay can be restarted (on a new port) under them, taken down, cut off or silenced, as a real
 * relay of one organisation would be.
 */
export class FaultRelay {
  /** Whether a restart lost this relay's mailboxes (a memory store). */
  lostState = false;
  /** The most mailboxes (tombstones included) this relay held at any look, restarts included. */
  mostMailboxes = 0;

  private constructor(
    private relay: RunningRelay,
    readonly proxy: FaultProxy,
    private readonly relayOptions: Parameters<typeof startRelay>[0],
  ) {}

  static async start(options: FaultRelayOptions): Promise<FaultRelay> {
    const relayOptions = {
      host: '127.0.0.1',
      port: 0,
      redisUrl: options.redisUrl,
      redisPrefix: options.redisPrefix,
      trustProxy: false,
      limits: { ipRatePerSecond: 100_000, ipBurst: 100_000 },
      logger: options.logger ?? pino({ level: 'silent' }),
    };
    const relay = await startRelay(relayOptions);
    const proxy = new FaultProxy({ host: '127.0.0.1', port: relay.port }, options.seed);
    await proxy.listen();
    return new FaultRelay(relay, proxy, relayOptions);
  }

  /** The URL agents use: the proxy's. */
  get url(): string {
    return this.proxy.url;
  }

  get kind(): 'redis' | 'memory' {
    return this.relayOptions.redisUrl ? 'redis' : 'memory';
  }

  /** Stops the relay and starts it again on a new port; a memory relay comes back empty. */
  async restart(): Promise<void> {
    this.proxy.setRefusing(true);
    this.proxy.cutAll();
    await this.countMailboxes();
    await this.relay.close();
    this.relay = await startRelay(this.relayOptions);
    if (this.kind === 'memory') this.lostState = true;
    this.proxy.retarget({ host: '127.0.0.1', port: this.relay.port });
    this.proxy.setRefusing(false);
  }

  /** Refuses every connection and cuts the open ones (nothing listens), or listens again. */
  setDown(down: boolean): void {
    this.proxy.setRefusing(down);
    if (down) this.proxy.cutAll();
  }

  /** Down for `ms`, then up again with its state (a network outage, not a restart). */
  async outage(ms: number): Promise<void> {
    this.setDown(true);
    await sleep(ms);
    this.setDown(false);
  }

  /** Forwards nothing either way for `ms`, closing nothing (a half-open path), then resumes. */
  async halfOpen(ms: number): Promise<void> {
    this.proxy.setSilent(true);
    await sleep(ms);
    this.proxy.setSilent(false);
  }

  /**
   * Notes how many pairing mailboxes the store holds now into `mostMailboxes`: not the agents'
   * inboxes (a subset of its mailboxes), which live on their home relays. Counted first, so an
   * inbox made between the two reads can only lower this count, never add one that is not there.
   */
  async countMailboxes(): Promise<number> {
    const mailboxes = await this.relay.store.mailboxCount();
    const { inboxes } = await this.relay.store.inboxStats();
    this.mostMailboxes = Math.max(this.mostMailboxes, mailboxes - inboxes);
    return this.mostMailboxes;
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.relay.close();
  }
}
