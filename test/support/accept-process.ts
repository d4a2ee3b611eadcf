import { type ChildProcess, spawn } from 'node:child_process';
import { PAIRLINK_BIN } from './relay-process.js';

/** A running `pairlink accept`: the process, its exit code once its output is read, and that output. */
export interface AcceptProcess {
  readonly child: ChildProcess;
  /** Resolves on 'close', so stdout and stderr are whole when it does. */
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

/** A child process with its output collected; `closed` resolves on 'close', so the output is whole. */
export interface CapturedProcess {
  readonly child: ChildProcess;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): { stdout: string; stderr: string };
}

/**
 * Runs `file ARGS` with stdout and stderr collected; `stdin`, when given, is written and closed
 * (otherwise stdin stays open for the caller, as `child.stdin`).
 */
export function spawnCaptured(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string } = {},
): CapturedProcess {
  const child = spawn(file, args, {
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
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
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, closed, output: () => ({ stdout, stderr }) };
}

/** Runs `pairlink accept ARGS` as a real process; `stdin`, when given, is written and closed. */
export function spawnAccept(
  env: NodeJS.ProcessEnv,
  args: string[],
  opts: { stdin?: string } = {},
): AcceptProcess {
  const run = spawnCaptured(process.execPath, [PAIRLINK_BIN, 'accept', ...args], { env, ...opts });
  return { child: run.child, exited: run.closed.then((c) => c.code), output: run.output };
}
