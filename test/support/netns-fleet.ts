import { afterAll, beforeAll, describe } from 'vitest';
import { type AgentProcess, startAgent, testRoot } from './agent-process.js';
import {
  createTwoHosts,
  HOW_TO_RUN,
  type Host,
  netnsUnavailable,
  sweepStaleNamespaces,
  type TwoHosts,
} from './netns.js';
import { type RelayProcess, startRelayProcess } from './relay-process.js';

/** What a two-host suite's tests start their processes with; everything is stopped after it. */
export interface HostFleet {
  /** Hosts A and B (test/support/netns.ts), made before the suite's first test. */
  readonly hosts: TwoHosts;
  /** A private directory (0700) for the agents' homes and sockets. */
  readonly root: string;
  /** `pairlink relay` on `host`, listening on its address (`port` 0: any free one). */
  relay(host: Host, port?: number): Promise<RelayProcess>;
  /** `pairlink agent` on `host`, with its own home and socket under `root` and a file keystore. */
  agent(host: Host, name: string, relayUrl: string, env?: NodeJS.ProcessEnv): Promise<AgentProcess>;
  /** Something else the test started on a host, stopped with the rest. */
  track(stop: () => Promise<unknown>): void;
}

/**
 * `describe` for tests that need two hosts. Where namespaces cannot be made (not root, no
 * CAP_NET_ADMIN, no `ip`) the suite is skipped with a warning that says why and how to run it,
 * except with CI=true: there it fails instead, so CI never passes without having run it.
 * Namespaces a killed earlier run left behind are swept first; this suite's go in its afterAll.
 */
export async function describeTwoHosts(title: string, body: (fleet: HostFleet) => void): Promise<void> {
  const unavailable = await netnsUnavailable();
  const ci = process.env.CI;
  const inCi = ci !== undefined && !['', '0', 'false'].includes(ci);
  if (unavailable && !inCi) {
    console.warn(`SKIPPED "${title}": ${unavailable}. ${HOW_TO_RUN}.`);
    describe.skip(title, () => body(undefined as unknown as HostFleet));
    return;
  }
  const stops: (() => Promise<unknown>)[] = [];
  const fleet = {
    hosts: undefined as unknown as TwoHosts,
    root: '',
    async relay(host: Host, port = 0) {
      const relay = await startRelayProcess(
        ['--host', host.address, '--port', String(port)],
        {},
        {
          wrap: [...host.exec],
        },
      );
      stops.push(() => relay.stop());
      return relay;
    },
    async agent(host: Host, name: string, relayUrl: string, env: NodeJS.ProcessEnv = {}) {
      const agent = await startAgent(fleet.root, name, relayUrl, env, [], [], [...host.exec]);
      stops.push(() => agent.stop());
      return agent;
    },
    track(stop: () => Promise<unknown>) {
      stops.push(stop);
    },
  };
  describe(title, () => {
    beforeAll(async () => {
      if (unavailable)
        throw new Error(`${unavailable}. CI=${ci}: this fails instead of being skipped. ${HOW_TO_RUN}.`);
      await sweepStaleNamespaces();
      fleet.hosts = await createTwoHosts();
      fleet.root = testRoot();
    });
    afterAll(async () => {
      await Promise.all(stops.splice(0).map((stop) => stop()));
      await fleet.hosts?.remove();
    });
    body(fleet);
  });
}
