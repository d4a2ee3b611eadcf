import { createServer, type Server, Socket } from 'node:net';

/**
 * A fault-injecting TCP proxy between agents and a relay, for HTTP and WebSocket traffic alike.
 * After a WebSocket upgrade it parses frames in both directions (RFC 6455 §5.2), so it can drop,
 * duplicate, delay and reorder whole frames, as a lossy relay or a broken middlebox would; it can
 * also cut every connection, go silent without closing (half-open), and refuse new connections.
 * Every choice comes from a seeded generator, so a failing run reproduces from its seed.
 */
export interface FaultRates {
  /** Probability per WebSocket frame of being dropped, sent twice, or held back (delayed, so reordered). */
  drop: number;
  duplicate: number;
  delay: number;
  /** Longest hold-back for a delayed frame. */
  maxDelayMs: number;
  /** Probability per HTTP request (first chunk of a connection's request) of cutting the connection instead. */
  cutHttp: number;
}

export const NO_FAULTS: FaultRates = { drop: 0, duplicate: 0, delay: 0, maxDelayMs: 0, cutHttp: 0 };

/** mulberry32: small, fast, and good enough to pick faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  upgraded: boolean;
}

/** Splits a byte stream into whole WebSocket frames; keeps a partial frame for the next chunk. */
class FrameSplitter {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const length = frameLength(this.buffer);
      if (length === null || length > this.buffer.length) break;
      frames.push(this.buffer.subarray(0, length));
      this.buffer = this.buffer.subarray(length);
    }
    return frames;
  }
}

/** The byte length of the frame at the start of `b`, or null if its header is incomplete. */
function frameLength(b: Buffer): number | null {
  if (b.length < 2) return null;
  const masked = (b[1]! & 0x80) !== 0;
  let length = b[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (b.length < 4) return null;
    length = b.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (b.length < 10) return null;
    length = Number(b.readBigUInt64BE(2));
    offset = 10;
  }
  return offset + (masked ? 4 : 0) + length;
}

/** The payload of a client frame, unmasked, as text. */
function unmaskedText(frame: Buffer): string {
  let length = frame[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    length = frame.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    length = Number(frame.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (frame[1]! & 0x80) !== 0;
  const key = masked ? frame.subarray(offset, offset + 4) : null;
  const payload = Buffer.from(frame.subarray(offset + (masked ? 4 : 0), offset + (masked ? 4 : 0) + length));
  if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
  return payload.toString('utf8');
}

/** Control frames (close, ping, pong) pass untouched: the faults are about data, not liveness. */
const isControl = (frame: Buffer) => (frame[0]! & 0x0f) >= 0x8;

export class FaultProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private rates: FaultRates = NO_FAULTS;
  private silent = false;
  /** Inspects each client → relay WebSocket text frame (unmasked); 'drop' drops it. */
  private filter: ((text: string) => 'drop' | 'pass') | null = null;
  private refusing = false;
  private readonly random: () => number;
  port = 0;
  /** What was done, for the run's report. */
  readonly counts = { dropped: 0, duplicated: 0, delayed: 0, cut: 0, connections: 0 };

  constructor(
    private target: { host: string; port: number },
    seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<void> {
    this.server = createServer((client) => this.onConnection(client));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Points the proxy at another relay address (a relay restarted on a new port). */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  setRates(rates: Partial<FaultRates>): void {
    this.rates = { ...NO_FAULTS, ...rates };
  }

  /** Stops forwarding in both directions without closing anything (a half-open path), or resumes. */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /** Drops client → relay WebSocket frames that `filter` picks (a targeted fault); null clears it. */
  setFilter(filter: ((text: string) => 'drop' | 'pass') | null): void {
    this.filter = filter;
  }

  /** Refuses (resets) new connections, as when nothing listens. */
  setRefusing(refusing: boolean): void {
    this.refusing = refusing;
  }

  /** Cuts every open connection (both sides see a reset). */
  cutAll(): void {
    for (const pair of this.pairs) this.cut(pair);
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private cut(pair: Pair): void {
    this.counts.cut++;
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
    this.pairs.delete(pair);
  }

  private onConnection(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    this.counts.connections++;
    const upstream = new Socket();
    const pair: Pair = { client, upstream, upgraded: false };
    this.pairs.add(pair);
    upstream.connect(this.target.port, this.target.host);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    const toUpstream = new FrameSplitter();
    const toClient = new FrameSplitter();
    let firstRequestChunk = true;
    client.on('data', (chunk: Buffer) => {
      if (this.silent) return;
      if (!pair.upgraded) {
        if (
          firstRequestChunk &&
          !chunk.includes('Upgrade: websocket') &&
          this.random() < this.rates.cutHttp
        ) {
          this.cut(pair);
          return;
        }
        firstRequestChunk = false;
        upstream.write(chunk);
        return;
      }
      for (const frame of toUpstream.push(chunk)) {
        if (this.filter && !isControl(frame) && this.filter(unmaskedText(frame)) === 'drop') {
          this.counts.dropped++;
          continue;
        }
        this.forward(frame, upstream);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.silent) return;
      if (!pair.upgraded) {
        // The 101 answer ends the HTTP part; any bytes after its head are already frames.
        const head = chunk.indexOf('\r\n\r\n');
        if (chunk.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101' && head >= 0) {
          pair.upgraded = true;
          client.write(chunk.subarray(0, head + 4));
          for (const frame of toClient.push(chunk.subarray(head + 4))) this.forward(frame, client);
          return;
        }
        client.write(chunk);
        firstRequestChunk = true; // keep-alive: the next chunk from the client may be a new request
        return;
      }
      for (const frame of toClient.push(chunk)) this.forward(frame, client);
    });
  }

  private forward(frame: Buffer, to: Socket): void {
    if (isControl(frame)) {
      to.write(frame);
      return;
    }
    const roll = this.random();
    const { drop, duplicate, delay } = this.rates;
    if (roll < drop) {
      this.counts.dropped++;
      return;
    }
    if (roll < drop + duplicate) {
      this.counts.duplicated++;
      to.write(frame);
      to.write(frame);
      return;
    }
    if (roll < drop + duplicate + delay) {
      this.counts.delayed++;
      const copy = Buffer.from(frame);
      setTimeout(
        () => {
          if (!to.destroyed) to.write(copy);
        },
        Math.floor(this.random() * this.rates.maxDelayMs),
      );
      return;
    }
    to.write(frame);
  }
}
