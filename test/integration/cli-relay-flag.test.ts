import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';

/**
 * Two `pairlink agent` processes, each on its own relay process: the issuer's CLI shows its relay
 * beside a code, and the acceptor's `pairlink accept --relay` claims it there; a link needs no flag.
 */
let relayA: RelayProcess;
let relayB: RelayProcess;
let ann: AgentProcess;
let ben: AgentProcess;

beforeAll(async () => {
  [relayA, relayB] = await Promise.all([startRelayProcess(), startRelayProcess()]);
  const root = testRoot();
  [ann, ben] = await Promise.all([startAgent(root, 'ann', relayA.url), startAgent(root, 'ben', relayB.url)]);
});
afterAll(async () => {
  await Promise.all([ann?.stop(), ben?.stop()]);
  await Promise.all([relayA?.stop(), relayB?.stop()]);
});

describe('pairlink across two relays, from the CLI', () => {
  it('a code shows its relay beside it; `accept --relay` pairs on it, and the link of the other side needs no flag', async () => {
    const human = await ann.cli(['invite', '--format', 'code']);
    expect(human.code).toBe(0);
    // Piped, stdout is the code alone; the relay and what to run are said on stderr.
    expect(human.stdout.trim()).toMatch(/^\S+$/);
    expect(human.stderr).toContain(`pairlink accept --relay ${relayA.url}`);
    const created = (await ann.json<{ code: string; relayUrl: string }>(['invite', '--format', 'code']))
      .value;
    expect(created.relayUrl).toBe(relayA.url);
    const viaArg = await ben.cli(['accept', created.code, '--relay', relayA.url, '--wait', '30s']);
    expect(viaArg.stdout).toContain('Paired with ann');
    const link = (await ben.json<{ url: string }>(['invite'])).value.url;
    const back = await ann.cli(['accept', link, '--wait', '30s']);
    expect(back.stdout).toContain('Paired with ben');
    const peers = (await ann.json<{ name: string }[]>(['peers'])).value.map((p) => p.name);
    expect(peers).toContain('ben');
  }, 90_000);
});
