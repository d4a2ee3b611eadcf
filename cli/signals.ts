/** Resolves at the first SIGTERM or SIGINT (the long-running commands' stop). */
export function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** A stop signal caught while a command waits; `release` gives the signals back to Node's default. */
export interface CaughtSignals {
  /** Resolves with the first signal caught. */
  readonly first: Promise<StopSignal>;
  /** The first signal caught so far, or null. */
  received(): StopSignal | null;
  release(): void;
}

/** Catches SIGINT and SIGTERM until released, so a command can say what goes on without it. */
export function catchStopSignals(): CaughtSignals {
  let received: StopSignal | null = null;
  let settle: (signal: StopSignal) => void = () => undefined;
  const first = new Promise<StopSignal>((resolve) => {
    settle = resolve;
  });
  const caught = (signal: StopSignal) => {
    received ??= signal;
    settle(received);
  };
  process.on('SIGINT', caught);
  process.on('SIGTERM', caught);
  return {
    first,
    received: () => received,
    release() {
      process.off('SIGINT', caught);
      process.off('SIGTERM', caught);
    },
  };
}

/** Runs `run` with SIGINT and SIGTERM caught (catchStopSignals), released when it settles. */
export async function withStopSignals<T>(run: (signals: CaughtSignals) => Promise<T>): Promise<T> {
  const signals = catchStopSignals();
  try {
    return await run(signals);
  } finally {
    signals.release();
  }
}
