import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// `npm run bench -- --quick` as a smoke test: every benchmark runs and every figure of the table
// is produced as a finite number. No time is asserted: figures are for BENCHMARKS.md, not tests.

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const run = promisify(execFile);

interface Outcome {
  bench: string;
  error?: string;
  section: {
    figures: Record<string, { unit: string; samples: number[] }>;
    ratios: Record<string, number | null>;
  };
}

describe('npm run bench -- --quick', () => {
  it('runs every benchmark and produces every figure', async () => {
    const { stdout } = await run(process.execPath, [join(REPO, 'dist', 'bench', 'run.js'), '--quick'], {
      cwd: REPO,
      timeout: 400_000,
      maxBuffer: 1 << 24,
    });
    const file = /raw figures: (\S+)/.exec(stdout)?.[1];
    expect(file).toBeDefined();
    const { outcomes } = JSON.parse(readFileSync(join(REPO, file!), 'utf8')) as { outcomes: Outcome[] };
    expect(outcomes.map((o) => o.bench)).toEqual(['crypto', 'relay', 'pairing', 'ceremony', 'agent-inboxes']);
    for (const o of outcomes) {
      expect(o.error, o.bench).toBeUndefined();
      for (const [name, figure] of Object.entries(o.section.figures)) {
        expect(figure.samples.length, name).toBeGreaterThan(0);
        // Memory figures are differences of RSS readings: with --quick's few sockets, a collection
        // between two readings can make one negative, so only their finiteness is a property.
        const isDifference = figure.unit === 'KiB' || figure.unit === 'MiB';
        for (const v of figure.samples)
          expect(Number.isFinite(v) && (isDifference || v >= 0), `${name}: ${v}`).toBe(true);
      }
    }
    const names = outcomes.flatMap((o) => Object.keys(o.section.figures));
    for (const expected of [
      'one code pairing, both sides, CPace on libsodium (CPU)',
      'round trips/s, two relays sharing one Redis (ws)',
      'notices/s into inboxes, Redis store, posts over ws',
      'warm pairing, concurrency 1',
      'warm pairing, concurrency 100',
      'acceptor step: pairlink accept',
      'bare node -e 0',
      // .ci/run installs Debian's magic-wormhole packages, so the comparison runs in CI.
      'acceptor step: wormhole-william (Go) receive',
      'acceptor step: magic-wormhole (Python) receive',
      'mailbox server memory per open nameplate (own socket)',
      'agent memory per 1,000 peers with inboxes (RSS)',
      'sealed state per peer with an inbox',
      'pings answered/s, one peer (a notice and its receipt)',
      'receiving agent CPU per ping, one peer',
    ])
      expect(names).toContain(expected);
    expect(stdout).toMatch(/acceptor step ÷ wormhole-william receive/);
  }, 420_000);
});
