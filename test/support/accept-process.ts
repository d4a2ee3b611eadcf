import { type ChildProcess, spawn } from 'node:child_process';
import { PAIRLINK_BIN } from './relay-process.js';

/** A running `pairlink accept`: the process, its exit code once its output is read, and that output. */
export interface AcceptProcess {
  readonly child: ChildProcess;
  /** Resolves on 'close', so stdout and stderr are whole when it does. */
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

/** Runs `pairlink accept ARGS` as a real process; `stdin`, when given, is written and closed. */
export function spawnAccept(
  env: NodeJS.ProcessEnv,
  args: string[],
  opts: { stdin?: string } = {},
): AcceptProcess {
  const child = spawn(process.execPath, [PAIRLINK_BIN, 'accept', ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}
