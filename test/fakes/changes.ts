/**
 * What the fakes' tests wait on: `changed()` after every request or event wakes whoever waits,
 * and `until(probe)` re-checks the probe then (and every 100 ms), up to a deadline.
 */
export class Changes {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly name: string) {}

  changed(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves after the next change, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.add(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves with `probe()` once it is truthy; fails after `ms` naming `what`. */
  async until<T>(probe: () => T | undefined | false | null, what: string, ms = 15_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out waiting for ${what}`);
      await this.next(100);
    }
  }
}
