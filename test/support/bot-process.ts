import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAIRLINK_BIN } from './relay-process.js';

export interface BotProcess {
  /** stdout and stderr so far. */
  output(): string;
  /** Polls `/healthz` until it says ok (or gives up after 15 s); resolves with the last body. */
  healthy(): Promise<Record<string, unknown> | null>;
  /** SIGTERM; resolves with the exit code. */
  terminate(): Promise<number | null>;
}

/**
 * Starts `pairlink bot <platform> --config <dir>/config.json` as a real process, the config being
 * `{ [platform]: section }` with `healthPort` on loopback, and the token in `env`.
 */
export function startBotProcess(
  platform: 'discord' | 'matrix',
  dir: string,
  section: Record<string, unknown> & { healthPort: number },
  env: NodeJS.ProcessEnv,
): BotProcess {
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ [platform]: section }));
  const logs: string[] = [];
  const child = spawn(process.execPath, [PAIRLINK_BIN, 'bot', platform, '--config', config], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => logs.push(String(d)));
  child.stderr!.on('data', (d) => logs.push(String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => logs.join(''),
    async healthy() {
      let body: Record<string, unknown> | null = null;
      for (let i = 0; i < 150 && body?.status !== 'ok'; i++) {
        body = await fetch(`http://127.0.0.1:${section.healthPort}/healthz`)
          .then((r) => r.json() as Promise<Record<string, unknown>>)
          .catch(() => null);
        if (body?.status !== 'ok') await new Promise((r) => setTimeout(r, 100));
      }
      return body;
    },
    terminate() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
