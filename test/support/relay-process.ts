import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// This file runs from test/support (vitest) or dist/test/support (compiled benches): find the repo.
const SUPPORT_DIR = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = resolve(
  SUPPORT_DIR,
  SUPPORT_DIR.includes(`${sep}dist${sep}`) ? '../../..' : '../..',
);
export const PAIRLINK_BIN = join(REPO_ROOT, 'dist', 'bin', 'pairlink.cjs');

/** The command that runs `pairlink`: `bin` itself (an installed one), else node on this checkout's build. */
export function pairlinkCommand(bin: string | undefined, nodeArgs: string[] = []): string[] {
  return bin ? [bin] : [process.execPath, ...nodeArgs, PAIRLINK_BIN];
}

export interface RelayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `pairlink relay` as a real process and resolves once it logs its URL. */
export function startRelayProcess(
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  /**
   * `wrap`: a command the relay runs under, e.g. `ip netns exec NS` (test/support/netns.ts).
   * `bin`: a `pairlink` executable to run instead of this checkout's build (an installed one).
   */
  options: { nodeArgs?: string[]; cwd?: string; wrap?: string[]; bin?: string } = {},
): Promise<RelayProcess> {
  const [command, ...prefix] = [...(options.wrap ?? []), ...pairlinkCommand(options.bin, options.nodeArgs)];
  const child = spawn(command!, [...prefix, 'relay', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const logs: string[] = [];
  const stop = (signal: NodeJS.Signals = 'SIGTERM') =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${logs.join('\n')}`)), 15_000);
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { url?: string; msg?: string };
        if (entry.msg === 'relay listening' && entry.url) {
          clearTimeout(timer);
          resolve({ url: entry.url, child, logs, stop });
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}
