import { describe, expect, it } from 'vitest';
import { relayWithAgents } from '../support/agent-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue #27, rotation through the CLI with real processes: `pairlink rotate` on alice gives her a
 * new did and tells bob, whose `pairlink peers` then lists her under it and whose `pairlink log`
 * records the rotation; `pairlink devices` and `revoke-device` answer for a device that is not there.
 */
interface Peer {
  did: string;
  name: string;
}
interface Outcome {
  did: string;
  previousDid: string;
  reason: string;
  notified: Peer[];
  mustRePair: Peer[];
  reAddDevices: Peer[];
}

const fleet = relayWithAgents();

describe('pairlink rotate, devices, revoke-device', () => {
  it('alice rotates: the output names her new did and bob; bob re-pins her under it and logs it', async () => {
    const [alice, bob] = await Promise.all([fleet.agent('alice'), fleet.agent('bob')]);
    const invite = await alice.json<{ url: string }>(['invite']);
    expect((await bob.json<{ status: string }>(['accept', invite.value.url])).value.status).toBe('paired');
    const before = (await alice.json<Peer>(['whoami'])).value.did;
    await waitFor(async () => (await bob.json<Peer[]>(['peers'])).value[0]?.did === before, 'bob pins alice');

    const rotated = await alice.json<Outcome>(['rotate']);
    expect(rotated.code).toBe(0);
    expect(rotated.value).toMatchObject({ previousDid: before, reason: 'scheduled', mustRePair: [] });
    expect(rotated.value.did).not.toBe(before);
    expect(rotated.value.notified.map((p) => p.name)).toEqual(['bob']);
    expect((await alice.json<Peer>(['whoami'])).value.did).toBe(rotated.value.did);
    await waitFor(
      async () => (await bob.json<Peer[]>(['peers'])).value[0]?.did === rotated.value.did,
      'bob re-pins alice under her new did',
    );
    const log = await bob.json<{ event: string; previousDid?: string }[]>(['log']);
    expect(log.value.filter((e) => e.event === 'rotated')).toEqual([
      expect.objectContaining({ previousDid: before }),
    ]);
    const human = await alice.cli(['rotate', '--compromised']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Rotated: this identity is now did:key:');

    expect((await alice.json<unknown[]>(['devices'])).value).toEqual([]);
    const none = await alice.cli(['revoke-device', 'laptop', '--json']);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout)).toMatchObject({ error: { code: 'PEER_NOT_FOUND' } });
  });
});
