import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../dist/bin/pairlink.js', import.meta.url));
const run = promisify(execFile);

describe('the built pairlink executable', () => {
  it('exists (npm test builds it first) and runs the demo as a real process', async () => {
    expect(existsSync(BIN), 'dist/bin/pairlink.js is missing: run `npm run build`').toBe(true);
    const { stdout } = await run(process.execPath, [BIN, 'demo', '--json']);
    expect(JSON.parse(stdout).paired).toBe(true);
  });

  it('exits non-zero with JSON on stdout for a bad invite', async () => {
    const failure = await run(process.execPath, [BIN, 'inspect', 'pairlink://invite/!!', '--json']).catch(
      (e) => e,
    );
    expect(failure.code).toBe(1);
    expect(JSON.parse(failure.stdout).error.code).toBe('MALFORMED');
  });
});
