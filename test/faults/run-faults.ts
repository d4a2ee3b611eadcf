import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NOTICE_SHARE } from '../support/fault-notices.js';
import { CROSS_RELAY_SHARE, faultRun } from '../support/fault-run.js';
import { startRedis } from '../support/redis-server.js';

/**
 * `npm run faults -- --runs 1000 [--seed N] [--concurrency 8] [--redis-share 0.3] [--cross-share 0.33]
 * [--notice-share 0.5] [--logs DIR] [--repeat N]`:
 * seeded fault runs (test/support/fault-run.ts), several at a time; prints a summary, split by
 * store and by one relay or two, the notice phases (fault-notices.ts) by how they settled and
 * ended, and the seed of every failing run, so `--seed N --runs 1` reproduces it. Exits 1 if any
 * run broke an invariant or a promise rejection went unhandled. With `--logs DIR`, each failing
 * run's events and its agents' and relays' debug log go to DIR/seed-N-I.log (I: the run's index),
 * one timeline (and a run still going after 5 minutes, a hang, to DIR/seed-N-I-hung.log). With `--repeat N` each seed runs N times in a row (`--runs` counts every run): a
 * failure that needs the batch's load (its timing) shows again with `--seed S --runs 8 --repeat 8`.
 */
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    'redis-share': { type: 'string', default: '0.3' },
    'cross-share': { type: 'string', default: String(CROSS_RELAY_SHARE) },
    'notice-share': { type: 'string', default: String(NOTICE_SHARE) },
    logs: { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const runs = Number(values.runs);
const first = Number(values.seed);
const concurrency = Number(values.concurrency);
const redisShare = Number(values['redis-share']);
const crossShare = Number(values['cross-share']);
const noticeShare = Number(values['notice-share']);
/** Each seed run this many times (at once, with `--concurrency`): a timing-bound failure shows again. */
const repeat = Number(values.repeat);
const logDir = values.logs;
if (logDir) mkdirSync(logDir, { recursive: true });
const redis = redisShare > 0 ? await startRedis() : null;
const started = Date.now();
const outcomes: Record<string, number> = {};
/** Runs, outcomes and runs with violations per kind of run ("memory, two relays"). */
const byKind: Record<string, Record<string, number>> = {};
const failures: { seed: number; violations: string[]; events: string[] }[] = [];
/** Notice phases by "settled → final" state. */
const notices: Record<string, number> = {};
const unhandled: string[] = [];
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason));
  console.log(`unhandled rejection: ${unhandled.at(-1)}`);
});
let next = 0;
let done = 0;
/** When a run still going is reported (with `--logs`, its log so far written as …-hung.log). */
const HANG_REPORT_MS = 300_000;
async function worker(): Promise<void> {
  while (next < runs) {
    const index = next++;
    const seed = first + Math.floor(index / repeat);
    const useRedis = redis !== null && (seed % 10) / 10 < redisShare;
    const log = logDir === undefined ? undefined : [];
    // Only reports a run that hangs (each run ends by its own bounds in well under a minute).
    const hung = setTimeout(() => {
      console.log(`seed ${seed} (run ${index}) still running after ${HANG_REPORT_MS / 1000} s`);
      if (logDir && log) writeFileSync(join(logDir, `seed-${seed}-${index}-hung.log`), `${log.join('\n')}\n`);
    }, HANG_REPORT_MS);
    const result = await faultRun({
      seed,
      redisUrl: useRedis ? redis.url : undefined,
      crossShare,
      noticeShare,
      log,
    }).finally(() => clearTimeout(hung));
    outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
    const kind = `${result.store}, ${result.relays === 'same' ? 'one relay' : 'two relays'}`;
    byKind[kind] ??= { runs: 0, violations: 0 };
    const counts = byKind[kind];
    counts.runs = (counts.runs ?? 0) + 1;
    counts[result.outcome] = (counts[result.outcome] ?? 0) + 1;
    if (result.notices) {
      const key = `${result.notices.settled} → ${result.notices.final}`;
      notices[key] = (notices[key] ?? 0) + 1;
    }
    if (result.violations.length > 0) {
      counts.violations = (counts.violations ?? 0) + 1;
      failures.push({ seed, violations: result.violations, events: result.events });
      if (logDir && log) writeFileSync(join(logDir, `seed-${seed}-${index}.log`), `${log.join('\n')}\n`);
      console.log(
        `seed ${seed} FAILED (${result.description}): ${result.violations.join('; ')} [${result.events.join(', ')}]`,
      );
    }
    done++;
    if (done % 50 === 0) console.log(`${done}/${runs} runs, ${Math.round((Date.now() - started) / 1000)} s`);
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, () => worker()));
await redis?.stop();
const seconds = ((Date.now() - started) / 1000).toFixed(1);
for (const [kind, counts] of Object.entries(byKind).sort())
  console.log(`  ${kind}: ${JSON.stringify(counts)}`);
const phases = Object.values(notices).reduce((a, b) => a + b, 0);
console.log(`  notice phases: ${phases}, settled → final ${JSON.stringify(notices)}`);
console.log(
  `fault runs: ${runs} in ${seconds} s; outcomes ${JSON.stringify(outcomes)}; ${failures.length} with violations; ${unhandled.length} unhandled rejection(s)`,
);
if (failures.length > 0) console.log(`failing seeds: ${failures.map((f) => f.seed).join(' ')}`);
// Exit now rather than when the event loop drains: runs that crash an agent leave its in-process
// sockets and files behind, as a killed process would, and in 2 of about 5 long batches Node's
// teardown then spun at 100% of a core in uv_run (Environment::CleanupHandles, seen with perf)
// after the summary was printed, so `npm run faults` never returned.
process.exit(failures.length + unhandled.length > 0 ? 1 : 0);
