import type { Duplex } from 'node:stream';
import { LineBuffer } from '../src/rpc/line-framing.js';
import { type LineHandler, MAX_FRAME_BYTES, MAX_IN_FLIGHT } from './rpc-dispatch.js';

/**
 * Unread output past which the agent stops reading a connection's requests until its client
 * takes what it was sent ('drain'): a client that never reads cannot make the agent hold more than
 * this plus the answers of the requests it already has in progress (at most MAX_IN_FLIGHT).
 */
export const OUTPUT_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Notifications the agent holds for a subscriber (beyond what the kernel buffers) before it
 * disconnects it as fallen behind.
 */
export const MAX_HELD_NOTIFICATIONS = 128;

/** What the transport holds for one connection (`agent.info` adds whether it subscribed). */
export interface TransportFigures {
  readonly id: number;
  /** Answers and notifications written but not yet taken by the client's socket, in bytes. */
  readonly backlogBytes: number;
  /** Requests read and not yet answered. */
  readonly pendingRequests: number;
  /** False while the agent is not reading this connection's requests. */
  readonly reading: boolean;
}

/**
 * The transport for one client of the agent's socket: newline-delimited framing, at most
 * MAX_FRAME_BYTES a line, and flow control, so that what the agent holds for a client is bounded
 * however little it reads (docs/SECURITY.md §Whoever reaches the local socket). It is the only
 * code that reads or writes the socket. The server must be created with `allowHalfOpen`: a client
 * that shuts its side after writing its requests still gets every answer, then the agent closes.
 */
export class SocketConnection {
  /** Text read and not yet handed on: at most one chunk beyond a partial line while waiting. */
  private readonly buffered = new LineBuffer();
  private inFlight = 0;
  private lines: LineHandler | null = null;
  private peerEnded = false;
  /** Bytes handed to the socket; less its writableLength, the bytes the kernel has taken. */
  private written = 0;
  /** Where each notification the agent still holds ends, as an offset into `written`. */
  private readonly heldNotifications: number[] = [];

  constructor(
    readonly id: number,
    /** The client's socket (any duplex stream: tests use an in-memory pair). */
    private readonly socket: Duplex,
    /** Called once, with the figures at that moment, when a subscriber is disconnected as fallen behind. */
    private readonly fellBehind: (figures: TransportFigures & { heldNotifications: number }) => void,
  ) {}

  /** Starts reading request lines, each handed to `lines`. */
  read(lines: LineHandler): void {
    this.lines = lines;
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.buffered.push(chunk);
      this.readLines();
    });
    // The client took what it was sent: read its requests again.
    this.socket.on('drain', () => this.readLines());
    this.socket.on('end', () => {
      this.peerEnded = true;
      this.endIfDone();
    });
    this.socket.on('close', () => {
      this.buffered.clear();
      this.heldNotifications.length = 0;
    });
  }

  /** Writes one answer line (with its newline) unless the socket is gone. */
  send(line: string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    // As bytes, so that writableLength (and backlogBytes) counts bytes, not UTF-16 units.
    const bytes = Buffer.from(line, 'utf8');
    this.written += bytes.length;
    this.socket.write(bytes);
  }

  /**
   * Writes one notification line to a subscriber, or disconnects it when the agent already holds
   * MAX_HELD_NOTIFICATIONS for it: it has stopped reading, and would otherwise hold every event.
   */
  notify(line: string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    const held = this.countHeldNotifications();
    if (held >= MAX_HELD_NOTIFICATIONS) {
      const figures = { ...this.figures(), heldNotifications: held };
      this.socket.destroy();
      this.fellBehind(figures);
      return;
    }
    this.send(line);
    this.heldNotifications.push(this.written);
  }

  figures(): TransportFigures {
    return {
      id: this.id,
      backlogBytes: this.socket.writableLength,
      pendingRequests: this.inFlight,
      reading: !this.mustWait(),
    };
  }

  /** Notifications written and not yet taken by the kernel (those before them were taken first). */
  private countHeldNotifications(): number {
    const taken = this.written - this.socket.writableLength;
    while (this.heldNotifications.length > 0 && this.heldNotifications[0]! <= taken)
      this.heldNotifications.shift();
    return this.heldNotifications.length;
  }

  /**
   * Requests are read only while the client keeps up: fewer than MAX_IN_FLIGHT in progress and at
   * most OUTPUT_HIGH_WATER_BYTES of answers it has not taken. Past either, its lines wait in
   * `buffered` and the socket is paused (the kernel then holds what the client writes, and stops
   * it), until a request finishes or the output drains.
   */
  private mustWait(): boolean {
    return this.inFlight >= MAX_IN_FLIGHT || this.socket.writableLength > OUTPUT_HIGH_WATER_BYTES;
  }

  private readLines(): void {
    const lines = this.lines;
    if (!lines || this.socket.destroyed) return;
    while (!this.mustWait()) {
      const line = this.buffered.next();
      if (line === null) break;
      if (line.trim().length > 0) this.start(line, lines);
    }
    if (this.mustWait()) {
      this.socket.pause();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buffered.exceeds(MAX_FRAME_BYTES)) {
      // No end of line in sight: answer once and close, since the stream cannot be resynchronised.
      this.send(`${lines.tooLarge()}\n`);
      this.socket.end();
      this.buffered.clear();
    }
    this.endIfDone();
  }

  /** After the client shut its side: closes once every line it sent has been answered. */
  private endIfDone(): void {
    if (this.peerEnded && this.inFlight === 0 && !this.buffered.hasLine() && !this.socket.writableEnded)
      this.socket.end();
  }

  // Requests run concurrently and each is answered when it is done (JSON-RPC matches answers by
  // id), so a long invite.accept never holds up an agent.info behind it. Every request counts
  // against MAX_IN_FLIGHT, a batch as many as it has entries.
  private start(line: string, lines: LineHandler): void {
    const run = lines.run(line);
    this.inFlight += run.count;
    void run.done.then((answer) => {
      if (answer !== null) this.send(`${answer}\n`);
      this.inFlight -= run.count;
      this.readLines();
    });
  }
}
