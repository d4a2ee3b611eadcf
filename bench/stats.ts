import { readFileSync, writeFileSync } from 'node:fs';

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

/** One benchmark figure: its samples (sorted) in a unit; the table shows the median, and p99 when asked. */
export interface Figure {
  readonly unit: 'ms' | 'KiB' | 'MiB' | 'per s' | '×';
  readonly samples: readonly number[];
  readonly p99?: boolean;
}

export type Figures = Record<string, Figure>;

export const inMs = (samples: number[], p99 = false): Figure => ({
  unit: 'ms',
  samples: [...samples].sort((a, b) => a - b),
  ...(p99 ? { p99 } : {}),
});
export const value = (unit: Figure['unit'], v: number): Figure => ({ unit, samples: [v] });

/** A section of results: printed here, and written as JSON to BENCH_JSON when set (npm run bench). */
export interface Section {
  readonly name: string;
  readonly figures: Figures;
  readonly ratios: Record<string, number | null>;
  readonly notes: readonly string[];
}

function formatFigure(f: Figure): string {
  const m = median(f.samples);
  const digits = f.unit === 'per s' ? 0 : m >= 100 ? 0 : m >= 10 ? 1 : 2;
  const main = `${m.toFixed(digits)} ${f.unit === '×' ? '×' : f.unit}`;
  const tail = f.p99 ? `  p99 ${quantile(f.samples, 0.99).toFixed(digits)}` : '';
  const n = f.samples.length > 1 ? `  (n=${f.samples.length})` : '';
  return `${main}${tail}${n}`;
}

/** The lines of one section, for this process's stdout and for the combined table. */
export function sectionLines(section: Section): string[] {
  const lines = [`${section.name}`];
  for (const [label, f] of Object.entries(section.figures))
    lines.push(`  ${label.padEnd(54)} ${formatFigure(f)}`);
  for (const [label, r] of Object.entries(section.ratios))
    lines.push(`  ${label.padEnd(54)} ${r === null ? 'n/a' : `${r.toFixed(2)} ×`}`);
  for (const note of section.notes) lines.push(`  note: ${note}`);
  return lines;
}

export function report(
  name: string,
  figures: Figures,
  notes: readonly string[] = [],
  ratios: Record<string, number | null> = {},
): void {
  const section: Section = { name, figures, ratios, notes };
  for (const line of sectionLines(section)) console.log(line);
  const out = process.env.BENCH_JSON;
  if (out) writeFileSync(out, JSON.stringify(section));
}

/** median(a) ÷ median(b) of two figures, null when either is missing. */
export function ratioOf(figures: Figures, a: string, b: string): number | null {
  const x = figures[a];
  const y = figures[b];
  return x && y ? median(x.samples) / median(y.samples) : null;
}

/** User + system CPU of a process so far, in ms (Linux /proc; clock ticks of 10 ms); NaN when gone. */
export function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
