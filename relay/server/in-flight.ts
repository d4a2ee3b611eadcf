/**
 * The relay's handlers still running (HTTP requests and WebSocket ops), so that a shutdown can
 * let them finish before it closes the store under them. A handler's connection going away does
 * not end its store call: only the handler's own promise says it is done.
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  /** Whether shutdown has begun: new work is refused, and a store failure is expected, not an error. */
  get closing(): boolean {
    return this.stopping;
  }

  /** Marks shutdown begun (before sockets close, so an op arriving meanwhile is refused). */
  close(): void {
    this.stopping = true;
  }

  /** Counts `handler` as running until it settles; a rejection still reaches the caller's chain. */
  track(handler: Promise<void>): Promise<void> {
    this.running.add(handler);
    return handler.finally(() => this.running.delete(handler));
  }

  /**
   * Resolves once every handler has settled (those started meanwhile too), or at `deadlineMs`
   * with how many were still running then; 0 when all finished.
   */
  async drain(deadlineMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), deadlineMs);
    });
    try {
      while (this.running.size > 0) {
        const settled = Promise.allSettled([...this.running]);
        if ((await Promise.race([settled, late])) === 'late') return this.running.size;
      }
      return 0;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Handlers running now. */
  get count(): number {
    return this.running.size;
  }
}
