/** Times `fn` `runs` times after a warm-up and returns per-run milliseconds, sorted. */
export function sample(fn: () => void, runs: number, warmup = Math.min(50, runs)): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

/** The q-quantile (0..1) of sorted samples. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Median of sorted samples. */
export function median(sorted: readonly number[]): number {
  return quantile(sorted, 0.5);
}

/** Formats milliseconds with three significant decimals. */
export function ms(value: number): string {
  return `${value.toFixed(3)} ms`;
}
