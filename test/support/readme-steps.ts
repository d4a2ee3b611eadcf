import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PAIRLINK_BIN } from './relay-process.js';

/** The repository whose README the tests follow, and that README's text. */
export const REPO = resolve(PAIRLINK_BIN, '../../..');
export const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The text of a `## ` section of the README, up to the next one; throws when there is none. */
export function readmeSection(heading: string): string {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README has no section "${heading}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The ```sh blocks of a README section, in order. */
export const shBlocks = (text: string) => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** A README block running in sh, as one terminal would run it. */
export interface ShStep {
  readonly child: ChildProcess;
  /** Resolves with the exit code once the block ends. */
  readonly exited: Promise<number | null>;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects if the block ends first. */
  until(pattern: RegExp): Promise<RegExpMatchArray>;
  /** SIGTERM to its whole process group (what it started too); resolves once it ended. */
  stop(): Promise<void>;
}

/**
 * Runs `script` with `sh -e` in `cwd`, in a process group of its own, under `wrap` when given
 * (e.g. `ip netns exec NS`: the block then runs on that host).
 */
export function startSh(
  cwd: string,
  script: string,
  env: NodeJS.ProcessEnv,
  wrap: readonly string[] = [],
): ShStep {
  const [command, ...prefix] = [...wrap, 'sh'];
  const child = spawn(command!, [...prefix, '-e', '-c', script], { cwd, env, detached: true, stdio: 'pipe' });
  let output = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (d: Buffer) => {
    output += d;
    for (const w of [...waiters]) {
      const m = output.match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    exited,
    output: () => output,
    until: (pattern: RegExp) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const m = output.match(pattern);
        if (m) return resolve(m);
        waiters.push({ pattern, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} before ${pattern}:\n${output}`)));
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    },
  };
}
