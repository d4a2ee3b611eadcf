import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { AgentInbox } from '../../agent/agent-inbox.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import { RepeatedWarnings } from '../../agent/repeated-warnings.js';
import { DurableState } from '../../agent/state/durable-state.js';
import { RelayConnection, relayConnector } from '../../relay/client/relay-connection.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { MemoryStore } from '../../relay/server/store/memory-store.js';
import type { RelayStore } from '../../relay/server/store/store.js';
import { ManualClock } from '../support/fake-relay.js';
import { addSyntheticPeers } from '../support/many-peers.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27: an agent with many writers to add at a relay that takes only some at a time (its
 * rate limit, or a store that fails now and then) keeps adding them at the pace the relay allows.
 * A pass that added writers before the relay refused is progress, not one more failure in a row:
 * its retry comes after the first backoff (2 s), never after one that doubled each time. (Before,
 * 10,000 writers at the relay's default limit, a burst of 200 then 50/s, took hours: each pass
 * added a few hundred, then waited 4, 8, … up to 300 s.) A real relay whose store fails every
 * 25th writer added (answered 503), and the agent's inbox on a manual clock, each pass awaited.
 */
const PEERS = 200;
const FAIL_EVERY = 25;
const silent = pino({ level: 'silent' });
const random = (n: number) => new Uint8Array(randomBytes(n));

/** `inner`, except that every `every`th writer added fails (the relay answers 503 unavailable). */
function failingEvery(inner: RelayStore, every: number): { store: RelayStore; added: () => number } {
  let calls = 0;
  let added = 0;
  const addWriter: RelayStore['addWriter'] = async (...args) => {
    if (++calls % every === 0) throw new Error('the store failed this call');
    const result = await inner.addWriter(...args);
    if (result.ok) added++;
    return result;
  };
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'addWriter') return addWriter;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, added: () => added };
}

const running: { relay?: RunningRelay; connection?: RelayConnection } = {};
afterAll(async () => {
  running.connection?.close();
  await running.relay?.close();
});

describe('writers added at the pace the relay allows', () => {
  it('a pass that added writers before a refusal is retried after the first backoff, every time', async () => {
    const flaky = failingEvery(new MemoryStore(), FAIL_EVERY);
    const relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      trustProxy: false,
      logger: silent,
      limits: { ipBurst: 100_000, ipRatePerSecond: 100_000 },
      store: flaky.store,
    });
    running.relay = relay;
    // An agent makes its inbox and state, then stops; 200 peers are written into its state.
    const home = mkdtempSync(join(tmpdir(), 'pl-backoff-'));
    const stateFile = join(home, 'state.json');
    const keystore = await FileKeystore.open(join(home, 'keystore.json'), 'passphrase of hub');
    const clock = new ManualClock(1_800_000_000);
    const agent = await Agent.start({
      stateFile,
      keystore,
      relayUrl: relay.url,
      name: 'hub',
      logger: silent,
      clock,
      transport: relayConnector(() => undefined),
    });
    await waitFor(() => agent.snapshot.inbox !== undefined, 'the inbox');
    await agent.stop();
    await addSyntheticPeers(home, 'hub', relay.url, PEERS);

    // Its inbox alone, on its state and a connection to the relay, each pass awaited.
    const store = await DurableState.load(stateFile, (await keystore.get('state-key'))!, () => {
      throw new Error('the state is there');
    });
    const relayUrl = store.state.inbox!.relayUrl;
    const connection = new RelayConnection(relay.url, {
      onMessage: () => {},
      onMailboxGone: () => {},
      onConnectionChange: () => {},
    });
    running.connection = connection;
    const passes: Promise<unknown>[] = [];
    const inbox = new AgentInbox({
      store,
      relays: { home: connection, homeUrl: relayUrl },
      relayUrl,
      identity: { nextKeyCommitment: random(32) },
      clock,
      logger: silent,
      warnings: new RepeatedWarnings(silent),
      random,
      logFailure: (work) => void passes.push(work),
      read: () => {
        throw new Error('no message is sent in this test');
      },
      moved: () => {
        throw new Error('the inbox does not move in this test');
      },
      sendQueued: () => {},
    });
    const owed = () => store.state.peers.filter((p) => p.writerAdded === false).length;
    const added: number[] = [];
    // Each pass adds writers until the relay refuses one; 2 s later the next pass runs.
    for (let pass = 0; owed() > 0 && pass < PEERS; pass++) {
      const before = flaky.added();
      inbox.tick(clock.now());
      await Promise.all(passes.splice(0));
      added.push(flaky.added() - before);
      clock.advance(2);
    }
    // Every pass 2 s after the one before added writers (none waited out a doubled backoff).
    expect(added.filter((n) => n === 0)).toEqual([]);
    expect(added.length).toBeLessThanOrEqual(Math.ceil(PEERS / (FAIL_EVERY - 1)));
    expect(flaky.added()).toBe(PEERS);
    await store.close();
  }, 60_000);
});
