import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { Identity } from '../../src/identity/identity.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn } from '../support/hosted-agent.js';

/** The agent runs the relay-URL policy on every link before anything else touches its relay. */
const random = (n: number) => new Uint8Array(randomBytes(n));
const NOW = 1_800_000_000;

function linkNaming(relayUrl: string): string {
  const { identity } = Identity.generate(random);
  return mintUrlInvite(identity, resolveInvitePolicy({}), relayUrl, NOW, random).webUrl;
}

describe('accepting a link that names a relay the policy refuses', () => {
  it.each([
    ['https://169.254.169.254', 'metadata'],
    ['https://[::ffff:a9fe:a9fe]', 'metadata'],
    ['https://[fe80::1]:7457', 'link-local'],
    ['http://relay.example.net', 'plain http'],
  ])(
    '%s is RELAY_REFUSED (%s), before the same-relay check, with nothing asked of any relay',
    async (url, reason) => {
      const relay = new FakeRelay();
      const { agent } = await agentOn(relay, new ManualClock(NOW), 'bob');
      const failure = await agent.startAccept(linkNaming(url), false).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'RELAY_REFUSED' });
      expect((failure as Error).message).toContain(reason);
      expect(relay.mailboxCount).toBe(0);
      expect(agent.snapshot.accepts).toEqual([]);
      await agent.stop();
    },
  );
});
