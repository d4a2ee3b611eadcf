import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { PAIRLINK_BIN, pairlinkCommand, type RelayProcess, startRelayProcess } from './relay-process.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

export interface AgentProcess {
  readonly name: string;
  readonly home: string;
  readonly socket: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logs: string[];
  child: ChildProcess;
  /** Runs `pairlink <args>` against this agent; resolves with exit code, stdout and stderr. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** `cli` with --json, parsed. */
  json<T = unknown>(args: string[]): Promise<{ code: number; value: T }>;
  stop(): Promise<number | null>;
  restart(): Promise<void>;
}

/** A fresh directory for one test's agents (0700, under the OS temp dir). */
export function testRoot(): string {
  return mkdtempSync(join(tmpdir(), 'pl-'));
}

function spawnAgent(
  env: NodeJS.ProcessEnv,
  name: string,
  relayUrl: string,
  logs: string[],
  args: string[],
  nodeArgs: string[] = [],
  wrap: string[] = [],
  bin?: string,
): Promise<ChildProcess> {
  const [command, ...prefix] = [...wrap, ...pairlinkCommand(bin, nodeArgs)];
  const child = spawn(command!, [...prefix, 'agent', '--name', name, '--relay', relayUrl, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent ${name} did not start:\n${logs.join('\n')}`)),
      20_000,
    );
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"agent ready"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${name} exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}

/** Starts `pairlink agent` with its own home and socket under `root`. */
export async function startAgent(
  root: string,
  name: string,
  relayUrl: string,
  extraEnv: NodeJS.ProcessEnv = {},
  args: string[] = [],
  /** Flags for node itself (benchmarks profile with --cpu-prof). */
  nodeArgs: string[] = [],
  /** A command the agent runs under, e.g. `ip netns exec NS` (test/support/netns.ts). */
  wrap: string[] = [],
  /** A `pairlink` executable to run (agent and CLI) instead of this checkout's build: an installed one. */
  bin?: string,
): Promise<AgentProcess> {
  const home = join(root, name);
  const socket = join(root, `${name}.sock`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PAIRLINK_HOME: home,
    PAIRLINK_SOCKET: socket,
    PAIRLINK_KEYSTORE: 'file',
    PAIRLINK_PASSPHRASE: `passphrase of ${name}`,
    ...extraEnv,
  };
  const logs: string[] = [];
  const agent: AgentProcess = {
    name,
    home,
    socket,
    env,
    logs,
    child: await spawnAgent(env, name, relayUrl, logs, args, nodeArgs, wrap, bin),
    async cli(args) {
      const [command, ...prefix] = pairlinkCommand(bin);
      try {
        const { stdout, stderr } = await run(command!, [...prefix, ...args], { env });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    },
    async json<T>(args: string[]) {
      const result = await agent.cli([...args, '--json']);
      return { code: result.code, value: JSON.parse(result.stdout) as T };
    },
    stop() {
      return new Promise((resolve) => {
        if (agent.child.exitCode !== null || agent.child.signalCode !== null)
          return resolve(agent.child.exitCode);
        agent.child.once('exit', (code) => resolve(code));
        agent.child.kill('SIGTERM');
      });
    },
    async restart() {
      await agent.stop();
      agent.child = await spawnAgent(env, name, relayUrl, logs, args, nodeArgs, wrap, bin);
    },
  };
  return agent;
}

/**
 * One relay and the agents a test file starts on it, each with its own home under one root;
 * registers the file's beforeAll (start the relay) and afterAll (stop every agent, then the relay).
 */
export function relayWithAgents() {
  const fleet = {
    relay: undefined as unknown as RelayProcess,
    root: '',
    /** Starts `pairlink agent` on the relay; it is stopped after the file. */
    async agent(name: string, extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<AgentProcess> {
      const started = await startAgent(fleet.root, name, fleet.relay.url, extraEnv, args);
      agents.push(started);
      return started;
    },
  };
  const agents: AgentProcess[] = [];
  beforeAll(async () => {
    fleet.relay = await startRelayProcess();
    fleet.root = testRoot();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await fleet.relay?.stop();
  });
  return fleet;
}

/**
 * `pairlink events --json` on `agent`, live once it carried one of the probe invites it mints (so
 * nothing the test does next can happen before the stream listens); the lines it printed so far.
 */
export async function eventStream(agent: AgentProcess): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, [PAIRLINK_BIN, 'events', '--json'], {
    env: agent.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const probes: string[] = [];
  await waitFor(async () => {
    if (lines.some((l) => probes.some((id) => l.includes(id)))) return true;
    probes.push((await agent.json<{ id: string }>(['invite'])).value.id);
    return false;
  }, 'the event stream to carry a probe invite');
  return { child, lines };
}
