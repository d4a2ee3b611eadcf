import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// What `npm pack` puts in the tarball: the files the README tells an installed user to open or copy.

const run = promisify(execFile);
const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

describe('the packed package', () => {
  it('holds the config examples the README tells users to copy, and the docs', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: REPO,
      env: { ...process.env, npm_config_loglevel: 'silent' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const paths = pack!.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'config.example.json',
        'bots/discord/config.example.json',
        'bots/matrix/config.example.json',
        'docs/BOTS.md',
        'dist/bin/pairlink.cjs',
      ]),
    );
  }, 60_000);
});
