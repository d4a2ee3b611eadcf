/**
 * Newline-delimited framing, as both ends of the agent's socket read it (the agent's
 * `agent/socket-connection.ts` and `client/connection.ts`): text arrives in chunks, and complete
 * lines are taken one at a time, so a reader may stop between two lines (flow control) and go on
 * later without scanning again what it has already passed.
 */
export class LineBuffer {
  private text = '';
  /** Where the next line starts in `text`: lines before it were taken. */
  private from = 0;

  /** Adds a chunk as it arrived. */
  push(chunk: string): void {
    this.compact();
    this.text += chunk;
  }

  /** Takes the next complete line (without its newline), or null while none is complete. */
  next(): string | null {
    const newline = this.text.indexOf('\n', this.from);
    if (newline < 0) {
      this.compact();
      return null;
    }
    const line = this.text.slice(this.from, newline);
    this.from = newline + 1;
    return line;
  }

  /** True when a complete line waits to be taken. */
  hasLine(): boolean {
    return this.text.indexOf('\n', this.from) >= 0;
  }

  /** What is held and not taken, in UTF-16 units: a partial line, and any lines not taken yet. */
  get length(): number {
    return this.text.length - this.from;
  }

  /** True when what is held and not taken is over `bytes` both in UTF-16 units and in UTF-8 bytes. */
  exceeds(bytes: number): boolean {
    return this.length > bytes && Buffer.byteLength(this.text.slice(this.from)) > bytes;
  }

  /** Drops everything held. */
  clear(): void {
    this.text = '';
    this.from = 0;
  }

  private compact(): void {
    if (this.from === 0) return;
    this.text = this.text.slice(this.from);
    this.from = 0;
  }
}
