/**
 * The relay benches' shared parts (bench/relay.ts, bench/relay-inboxes.ts): a real `pairlink relay`
 * child process, its resident memory, and its retained JS heap from post-GC heap snapshots.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PAIRLINK_BIN } from '../test/support/relay-process.js';

/**
 * Limits no bench run reaches: the benches measure the relay's and the agents' work, not the
 * relay's refusals (every bench process is one loopback address). Every bench's relay uses them.
 */
export const GENEROUS_LIMITS = {
  ipRatePerSecond: 1e7,
  ipBurst: 1e7,
  mailboxRatePerSecond: 1e7,
  mailboxBurst: 1e7,
  maxMessagesPerMailbox: 1e7,
  maxMailboxesPerIp: 1e7,
  maxSockets: 1e6,
  maxSocketsPerIp: 1e6,
};

/** A `pairlink relay` child process, listening. */
export interface Child {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `pairlink relay` (this checkout's build) on a free port with GENEROUS_LIMITS. */
export function startRelayChild(extra: string[], nodeFlags: string[] = []): Promise<Child> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, PAIRLINK_BIN, 'relay', '--port', '0', '--log-level', 'info', ...extra],
    {
      env: { ...process.env, PAIRLINK_RELAY_LIMITS: JSON.stringify(GENEROUS_LIMITS) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'relay listening' && entry.url) {
        resolve({
          url: entry.url,
          process: child,
          stop: () =>
            new Promise((done) => {
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)));
  });
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Total self size of a V8 heap snapshot (taken after a full GC, so: retained objects only). */
export function snapshotBytes(file: string): number {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[] } };
    nodes: number[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!;
  return total;
}

/** Makes the relay child write a heap snapshot (SIGUSR2 with --heapsnapshot-signal) and sizes it. */
export async function retainedHeap(child: Child, dir: string): Promise<number> {
  const before = readdirSync(dir).length;
  child.process.kill('SIGUSR2');
  while (readdirSync(dir).length === before) await sleep(100);
  const file = join(dir, readdirSync(dir).sort().at(-1)!);
  let size = -1;
  while (size !== statSync(file).size || size === 0) {
    size = statSync(file).size;
    await sleep(500);
  }
  const bytes = snapshotBytes(file);
  rmSync(file);
  return bytes;
}
