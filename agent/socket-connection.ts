import type { Socket } from 'node:net';

/** Largest request line accepted on the socket. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Requests one connection may have in progress; past this the agent stops reading it for a while. */
export const MAX_IN_FLIGHT = 256;

/** What the agent holds for one connection, as `agent.info` reports it. */
export interface ConnectionFigures {
  readonly id: number;
  readonly subscribed: boolean;
  /** Answers and notifications written but not yet taken by the client's socket, in bytes. */
  readonly backlogBytes: number;
  /** Requests read and not yet answered. */
  readonly pendingRequests: number;
  /** False while the agent is not reading this connection's requests. */
  readonly reading: boolean;
}

/** One request line handed to the protocol layer: how many requests it holds, and its answer. */
export interface LineRun {
  readonly count: number;
  readonly done: Promise<string | null>;
}

/** What the protocol layer does with a line, and with a line too long to read. */
export interface LineHandler {
  run(line: string): LineRun;
  tooLarge(): string;
}

/**
 * The transport for one client of the agent's socket: newline-delimited framing, at most
 * MAX_FRAME_BYTES a line, and flow control. It is the only code that reads or writes the socket.
 */
export class SocketConnection {
  subscribed = false;
  private buffered = '';
  private inFlight = 0;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
  ) {}

  /** Starts reading request lines, each handed to `lines`. */
  read(lines: LineHandler): void {
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => this.received(chunk, lines));
  }

  /** Writes one answer line (with its newline) unless the socket is gone. */
  send(line: string): void {
    if (!this.socket.destroyed) this.socket.write(line);
  }

  /** Writes one notification line to a subscriber. */
  notify(line: string): void {
    this.send(line);
  }

  figures(): ConnectionFigures {
    return {
      id: this.id,
      subscribed: this.subscribed,
      backlogBytes: this.socket.writableLength,
      pendingRequests: this.inFlight,
      reading: !this.socket.isPaused(),
    };
  }

  private received(chunk: string, lines: LineHandler): void {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line.trim().length > 0) this.start(lines.run(line));
      newline = this.buffered.indexOf('\n');
    }
    if (this.inFlight >= MAX_IN_FLIGHT) this.socket.pause();
    if (this.buffered.length > MAX_FRAME_BYTES && Buffer.byteLength(this.buffered) > MAX_FRAME_BYTES) {
      // No end of line in sight: answer once and close, since the stream cannot be resynchronised.
      this.send(`${lines.tooLarge()}\n`);
      this.socket.end();
      this.buffered = '';
    }
  }

  // Requests run concurrently and each is answered when it is done (JSON-RPC matches answers by
  // id), so a long invite.accept never holds up an agent.info behind it. Every request counts
  // against MAX_IN_FLIGHT, a batch as many as it has entries; a client past it is not read until
  // some finish.
  private start(run: LineRun): void {
    this.inFlight += run.count;
    void run.done.then((answer) => {
      if (answer !== null) this.send(`${answer}\n`);
      this.inFlight -= run.count;
      if (this.inFlight < MAX_IN_FLIGHT && this.socket.isPaused()) this.socket.resume();
    });
  }
}
