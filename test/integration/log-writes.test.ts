import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnCaptured } from '../support/accept-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

/**
 * The JSON log of the long-running commands (agent, relay, up, bots) is written as each line is
 * logged, as Node writes stdout to files and pipes on Linux: not handed to libuv's thread pool,
 * which cost the agent a thread round trip for every sparse line (its one line per pairing
 * outcome) and could lose the last lines before a crash. Run on the built CLI (npm run build).
 */
const LOGGER = pathToFileURL(join(dirname(dirname(PAIRLINK_BIN)), 'cli', 'logger.js')).href;

describe('the log of a long-running command', () => {
  it('holds a line logged just before a SIGKILL, even while the thread pool is busy', async () => {
    const script = [
      "import { pbkdf2 } from 'node:crypto';",
      `import { commandLogger } from ${JSON.stringify(LOGGER)};`,
      "const logger = commandLogger('pairlink-test', undefined, {}, 'info', 'json');",
      // Holds the only thread-pool thread far longer than this process lives.
      "pbkdf2('p', 's', 1e9, 32, 'sha256', () => {});",
      "logger.info({ role: 'issuer' }, 'pairing paired');",
      "process.kill(process.pid, 'SIGKILL');",
    ].join('\n');
    const run = spawnCaptured(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
      stdin: '',
    });
    const { signal } = await run.closed;
    const { stdout, stderr } = run.output();
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(
      stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([expect.objectContaining({ service: 'pairlink-test', role: 'issuer', msg: 'pairing paired' })]);
  });
});
