import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testRoot } from '../support/agent-process.js';

// The second implementation: test/interop/verify_vectors.py, written from docs/PROTOCOL.md with
// Python's standard library, python3-cryptography and python3-nacl (Debian; .ci/run installs
// them), ristretto255 from RFC 9496. It must reproduce every value of docs/test-vectors.json.

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const VERIFIER = join(REPO, 'test', 'interop', 'verify_vectors.py');
const VECTORS = join(REPO, 'docs', 'test-vectors.json');
// Debian's packages install for Debian's interpreter; a python3 earlier on PATH may lack them.
const PYTHON =
  process.env.PAIRLINK_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const run = promisify(execFile);

interface Report {
  values: number;
  inputs: number;
  reproduced: number;
  mismatches: number;
  uncovered: number;
}

async function verify(path: string): Promise<{ code: number; stdout: string; report: Report }> {
  const result = await run(PYTHON, [VERIFIER, path], { timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  const last = result.stdout.trim().split('\n').at(-1)!;
  return { ...result, report: JSON.parse(last) as Report };
}

describe('an independent implementation of docs/PROTOCOL.md', () => {
  it('reproduces every value of docs/test-vectors.json', async () => {
    const { code, stdout, report } = await verify(VECTORS);
    expect(stdout).not.toMatch(/MISMATCH|NOT COVERED/);
    expect(code).toBe(0);
    expect(report.mismatches).toBe(0);
    expect(report.uncovered).toBe(0);
    expect(report.inputs + report.reproduced).toBe(report.values);
    expect(report.reproduced).toBeGreaterThan(120);
  });

  it('is not a rubber stamp: a changed emoji, byte or added value fails it', async () => {
    const vectors = JSON.parse(readFileSync(VECTORS, 'utf8'));
    const dir = testRoot();
    const cases: [string, (v: typeof vectors) => void, RegExp][] = [
      [
        'emoji',
        (v) => (v.url.session.sas.emoji = v.url.session.sas.emoji.replace(/^\S+/, '🐶')),
        /MISMATCH url\.session\.sas\.emoji/,
      ],
      [
        'frame',
        (v) => (v.code.frames[2].bytes = `${v.code.frames[2].bytes.slice(0, -2)}00`),
        /MISMATCH code\.frames\.2\.bytes/,
      ],
      ['extra', (v) => (v.url.session.extra = 'x'), /NOT COVERED url\.session\.extra/],
      // An R of small order claimed valid: the answer OpenSSL 3.0 gives, not §1's.
      ['small-order R', (v) => (v.ed25519Rule[2].valid = true), /MISMATCH ed25519Rule\.2\.valid/],
      [
        'notice',
        (v) => (v.notices.notices[4].bytes = `${v.notices.notices[4].bytes.slice(0, -2)}00`),
        /MISMATCH notices\.notices\.4\.bytes/,
      ],
      // The thief's key claimed to match the pinned commitment: §11.6's rule says it cannot.
      [
        'thief',
        (v) => (v.notices.thief.matchesPinnedCommitment = true),
        /MISMATCH notices\.thief\.matchesPinnedCommitment/,
      ],
      // The acceptor's inbox frame with a changed byte, and a pin claiming the wrong side's inbox.
      [
        'inbox frame',
        (v) => (v.inboxRun.frames[5].bytes = `${v.inboxRun.frames[5].bytes.slice(0, -2)}00`),
        /MISMATCH inboxRun\.frames\.5\.bytes/,
      ],
      [
        'inbox pin',
        (v) => (v.inboxRun.pinned.bob.peerInbox = v.inboxRun.acceptorInbox.extension),
        /MISMATCH inboxRun\.pinned\.bob\.peerInbox/,
      ],
    ];
    for (const [name, change, expected] of cases) {
      const copy = structuredClone(vectors);
      change(copy);
      const path = join(dir, `${name}.json`);
      writeFileSync(path, JSON.stringify(copy));
      const { code, stdout } = await verify(path);
      expect(code, name).toBe(1);
      expect(stdout).toMatch(expected);
    }
  });
});
