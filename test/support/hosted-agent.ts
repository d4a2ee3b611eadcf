import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import type { FakeRelay, ManualClock } from './fake-relay.js';

/**
 * A real Agent on a fake relay and a manual clock, in a home of its own (or `home`, to restart
 * one), logging to `log` (silent unless given): unit tests of what the agent hosts, without
 * processes or sleeps.
 */
export const FAKE_RELAY_URL = 'http://relay.test';
const logger = pino({ level: 'silent' });

/** Several fake relays: the agent's home is `relayUrl`; `relays` maps each URL to its relay. */
export interface HostedRelays {
  readonly relayUrl?: string;
  readonly relays?: Readonly<Record<string, FakeRelay>>;
}

export async function agentOn(
  relay: FakeRelay,
  clock: ManualClock,
  name: string,
  home = mkdtempSync(join(tmpdir(), `pl-host-${name}-`)),
  log: pino.Logger = logger,
  where: HostedRelays = {},
) {
  const relays = where.relays ?? {};
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore: await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`),
    relayUrl: where.relayUrl ?? FAKE_RELAY_URL,
    name,
    logger: log,
    clock,
    transport: (url, handlers) => (relays[url] ?? relay).transport(handlers),
    ...(where.relays
      ? { relaySettings: { allowRelays: [], denyRelays: [], allowInsecureRelays: true } }
      : {}),
  });
  return { agent, home };
}

/** Waits (real time, bounded) until `check` holds: saves and crypto take a few milliseconds. */
export async function eventually(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

/** A debug logger that keeps its lines (JSON), to assert what an agent logged and what it never did. */
export function logLines(): { lines: string[]; log: pino.Logger } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { lines, log };
}
