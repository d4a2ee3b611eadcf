/**
 * `npm run bench`: every benchmark, one after another, each in its own process (they start and
 * stop their own relays, agents, Redis and mailbox servers on loopback, bounded in count and
 * time), then one table and the raw figures as JSON under bench/results/. `--quick` runs each with
 * small counts: the smoke test `npm test` runs, which checks that every figure is produced and
 * never asserts a time. BENCHMARKS.md explains each figure.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Section, sectionLines } from './stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : null;

const BENCHES = ['crypto', 'relay', 'pairing', 'ceremony', 'agent-inboxes'] as const;
const DEADLINE_MS = quick ? 180_000 : 900_000;

interface Outcome {
  readonly bench: string;
  readonly section: Section | null;
  readonly seconds: number;
  readonly error?: string;
}

function runOne(bench: string): Promise<Outcome> {
  const out = join(tmpdir(), `pairlink-bench-${process.pid}-${bench}.json`);
  rmSync(out, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, [join(HERE, `${bench}.js`)], {
    env: { ...process.env, BENCH_JSON: out, ...(quick ? { BENCH_QUICK: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d) => {
    stderr = `${stderr}${d}`.slice(-4000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  return new Promise((done) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const section = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Section) : null;
      rmSync(out, { force: true });
      if (code === 0 && section) done({ bench, section, seconds });
      else
        done({
          bench,
          section,
          seconds,
          error: signal
            ? `killed (${signal}) after ${seconds.toFixed(0)} s`
            : `exit ${code}: ${stderr.trim()}`,
        });
    });
  });
}

const machine = {
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS ? 'set here; unset for every timed command' : 'not set',
};
const outcomes: Outcome[] = [];
for (const bench of BENCHES) {
  if (only && !only.includes(bench)) continue;
  process.stderr.write(`bench: ${bench}${quick ? ' (quick)' : ''}…\n`);
  outcomes.push(await runOne(bench));
}

const at = new Date().toISOString();
console.log(
  `pairlink benchmarks ${quick ? '(--quick: small counts, a smoke test, not figures to quote) ' : ''}— ${at}`,
);
console.log(
  `node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB; NODE_EXTRA_CA_CERTS ${machine.nodeExtraCaCerts}`,
);
for (const o of outcomes) {
  console.log('');
  if (o.section) for (const line of sectionLines(o.section)) console.log(line);
  if (o.error) console.log(`${o.bench}: FAILED ${o.error}`);
  console.log(`  (${o.bench}: ${o.seconds.toFixed(0)} s)`);
}

const dir = join(REPO, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${at.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
writeFileSync(file, `${JSON.stringify({ at, quick, machine, outcomes }, null, 2)}\n`);
console.log('');
console.log(`raw figures: ${file.slice(REPO.length + 1)}`);
process.exitCode = outcomes.some((o) => o.error) ? 1 : 0;
