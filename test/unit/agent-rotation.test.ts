import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import { ROTATION_STEPS, type RotationStep } from '../../agent/identity-rotation.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import type { PeerRecord } from '../../agent/state/agent-state.js';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { fromHex } from '../../src/encoding/hex.js';
import { issueCard, readVerifiedCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import { type Notice, sealNotice } from '../../src/notice/envelope.js';
import type { NoticeBody } from '../../src/notice/notice-body.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import type { PeerRotated } from '../../src/rpc/protocol.js';
import { FakeRelay, ManualClock } from '../support/fake-relay.js';
import { agentOn, eventually } from '../support/hosted-agent.js';

/**
 * Rotation between real Agents on the fake relay and a manual clock (issue #27; PROTOCOL.md
 * §11.6): a peer follows the owner's rotation and refuses the old key from then on; a thief who
 * holds the current key only cannot rotate first; a revoked device is refused by the peers.
 */
const START = 1_800_000_000;
const random = (n: number) => new Uint8Array(randomBytes(n));
const b64 = (bytes: Uint8Array) => encodeBase64url(bytes);

const peerOf = (agent: Agent, did: string): PeerRecord | undefined =>
  agent.snapshot.peers.find((p) => p.did === did);
const audited = async (agent: Agent, event: string) =>
  (await agent.history(undefined, 1000)).entries.filter((e) => e.event === event);

async function pairOn(issuer: Agent, acceptor: Agent, mode: 'peer' | 'device' = 'peer') {
  const invite = await issuer.createInvite({ mode });
  const accept = await acceptor.startAccept(invite.url!, false);
  if (mode === 'device') {
    // Device mode asks both operators for the SAS.
    await eventually(() => acceptor.findAccept(accept.id).acceptor.phase === 'awaitingSas');
    await acceptor.acceptorEvent(accept.id, { type: 'sasConfirmed' });
    const awaiting = () =>
      Object.entries(issuer.findInvite(invite.id).issuer.sessions).find(([, s]) => s.phase === 'awaitingSas');
    await eventually(() => awaiting() !== undefined);
    await issuer.issuerEvent(invite.id, { type: 'sasConfirmed', sessionId: fromHex(awaiting()![0]) });
  }
  await eventually(() =>
    issuer.snapshot.peers.some(
      (p) => p.relation === mode && p.confirmed !== false && p.writerAdded !== false,
    ),
  );
  if (mode === 'peer')
    await eventually(() => acceptor.snapshot.peers.some((p) => p.did === issuer.did && p.writerAdded));
}

async function pair() {
  const relay = new FakeRelay();
  const clock = new ManualClock(START);
  const alice = await agentOn(relay, clock, 'alice');
  const bob = await agentOn(relay, clock, 'bob');
  await pairOn(alice.agent, bob.agent);
  return { relay, clock, alice: alice.agent, aliceHome: alice.home, bob: bob.agent, bobHome: bob.home };
}

/** The secrets in an agent's keystore entry (what a thief of its disk and passphrase holds). */
async function stolen(home: string, name: string, entry: 'identity') {
  const keystore = await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`);
  const bytes = (await keystore.get(entry))!;
  const identity = Identity.fromSecrets({
    signingSeed: bytes.subarray(0, 32),
    agreementSecret: bytes.subarray(32, 64),
  });
  return { identity, bytes };
}

/** A notice as `signer` makes it under the sender key `sender`, sealed to `to` and posted to its inbox. */
function post(
  relay: FakeRelay,
  to: Agent,
  sender: Identity,
  signer: Identity,
  counter: number,
  body: NoticeBody,
  now: number,
) {
  const card = readVerifiedCard(to.cardBytes);
  const notice: Notice = {
    sender: sender.signing.publicKey,
    receiver: card.signingKey,
    counter,
    sentAt: now,
    expiresAt: now + 86_400,
    body,
  };
  relay.inject(
    b64(to.snapshot.inbox!.mailboxId),
    sealNotice(notice, signer.signing, card.agreementKey, random),
  );
}

/** Waits (real time, bounded) until the asynchronous `check` holds. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

const heardRotations = (agent: Agent) => {
  const seen: PeerRotated[] = [];
  agent.events.onPeerRotated((r) => seen.push(r));
  return seen;
};

describe('rotation between agents', () => {
  it('alice rotates: bob re-pins her new key with the commitment after it, hears peer.rotated, audits it, and retires the old did', async () => {
    const { alice, bob } = await pair();
    const heard = heardRotations(bob);
    const oldDid = alice.did;
    // An invite minted before is signed by the old key: the rotation cancels it.
    const pending = await alice.createInvite({});
    const outcome = await alice.rotation.rotate('scheduled');
    await eventually(() => alice.findInvite(pending.id).issuer.status !== 'pending');
    expect(alice.findInvite(pending.id).issuer.status).toBe('cancelled');
    expect(outcome).toMatchObject({
      previousDid: oldDid,
      did: alice.did,
      reason: 'scheduled',
      mustRePair: [],
    });
    expect(outcome.notified.map((p) => p.did)).toEqual([bob.did]);
    expect(alice.did).not.toBe(oldDid);
    await eventually(
      () => peerOf(bob, alice.did) !== undefined && (alice.snapshot.outbox ?? []).length === 0,
    );
    const pin = peerOf(bob, alice.did)!;
    expect(peerOf(bob, oldDid)).toBeUndefined();
    expect(b64(pin.card)).toBe(b64(alice.cardBytes));
    expect(b64(pin.nextKeyCommitment!)).not.toBe(
      b64(nextKeyCommitment(readVerifiedCard(pin.card).signingKey)),
    );
    expect(bob.snapshot.retiredKeys).toEqual([expect.objectContaining({ did: oldDid, by: alice.did })]);
    expect(heard).toEqual([
      expect.objectContaining({ did: alice.did, previousDid: oldDid, reason: 'scheduled' }),
    ]);
    expect(await audited(bob, 'rotated')).toEqual([
      expect.objectContaining({
        peer: { did: alice.did, name: 'alice' },
        previousDid: oldDid,
        rotation: 'scheduled',
      }),
    ]);
    // Notices go on under the new key: a ping is answered.
    expect((await alice.pingPeer(bob.did, 5)).reachable).toBe(true);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('what a rotation saves survives a crash (SIGKILL: the home as it is on disk, no stop): the retired keys, the rotations', async () => {
    const { relay, clock, alice, aliceHome, bob, bobHome } = await pair();
    const oldDid = alice.did;
    await alice.rotation.rotate('scheduled');
    await eventually(
      () => peerOf(bob, alice.did) !== undefined && (alice.snapshot.outbox ?? []).length === 0,
    );
    // Each home copied as it is on disk while its agent runs: what a kill leaves.
    const crashed = (home: string) => {
      const copy = mkdtempSync(join(tmpdir(), 'pl-crash-'));
      cpSync(home, copy, { recursive: true });
      return copy;
    };
    const [bobCopy, aliceCopy] = [crashed(bobHome), crashed(aliceHome)];
    await Promise.all([alice.stop(), bob.stop()]);
    const { agent: bob2 } = await agentOn(relay, clock, 'bob', bobCopy);
    const { agent: alice2 } = await agentOn(relay, clock, 'alice', aliceCopy);
    expect(bob2.snapshot.retiredKeys).toEqual([expect.objectContaining({ did: oldDid, by: alice2.did })]);
    expect(alice2.snapshot.rotations).toEqual([expect.objectContaining({ from: oldDid, to: alice2.did })]);
    await Promise.all([alice2.stop(), bob2.stop()]);
  });

  it('the thief’s race: a rotation signed by the stolen current key is refused (notCommitted); the owner’s is applied; the old key’s notices and pairings are refused after', async () => {
    const { relay, clock, alice, aliceHome, bob } = await pair();
    const oldDid = alice.did;
    const { identity: current, bytes: currentSecrets } = await stolen(aliceHome, 'alice', 'identity');
    const thiefNext = Identity.generate(random).identity;
    const thiefCard = issueCard(thiefNext, 'alice', 'http://relay.test', START);
    // The thief rotates first, to a key of his own, with a counter far ahead.
    post(
      relay,
      bob,
      current,
      thiefNext,
      1000,
      {
        kind: 'rotate',
        reason: 'compromised',
        card: thiefCard.bytes,
        nextKeyCommitment: nextKeyCommitment(Identity.generate(random).identity.signing.publicKey),
      },
      clock.now(),
    );
    const refused = async () => (await audited(bob, 'noticeReceived')).map((e) => e.verdict);
    await until(async () => (await refused()).length === 1);
    expect(await refused()).toEqual(['notCommitted']);
    expect(peerOf(bob, oldDid)).toBeDefined();
    // The owner's rotation is applied whatever counter the thief pushed.
    await alice.rotation.rotate('compromised');
    await eventually(() => peerOf(bob, alice.did) !== undefined);
    expect(peerOf(bob, oldDid)).toBeUndefined();
    // The thief's notices under the old key: no pin has it any more.
    post(relay, bob, current, current, 2000, { kind: 'unpair' }, clock.now());
    await until(async () => (await refused()).length === 3);
    expect((await refused()).at(-1)).toBe('unknownSender');
    expect(peerOf(bob, alice.did)).toBeDefined();
    // And a pairing by the old key: an agent started on the stolen identity.
    const thiefHome = mkdtempSync(join(tmpdir(), 'pl-thief-'));
    const keystore = await FileKeystore.open(join(thiefHome, 'keystore.json'), 'passphrase of thief');
    await keystore.set('identity', currentSecrets);
    const { agent: thief } = await agentOn(relay, clock, 'thief', thiefHome);
    expect(thief.did).toBe(oldDid);
    const invite = await thief.createInvite({});
    await expect(bob.startAccept(invite.url!, false)).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    const bobInvite = await bob.createInvite({});
    const accept = await thief.startAccept(bobInvite.url!, false);
    await eventually(
      () =>
        bob.findInvite(bobInvite.id).issuer.status !== 'pending' ||
        Object.values(bob.findInvite(bobInvite.id).issuer.sessions).some((s) => s.failure),
    );
    const session = Object.values(bob.findInvite(bobInvite.id).issuer.sessions)[0];
    expect(session?.failure).toBe('KEY_RETIRED');
    expect(peerOf(bob, oldDid)).toBeUndefined();
    expect(accept.id).toBeDefined();
    await Promise.all([alice.stop(), bob.stop(), thief.stop()]);
  });

  it('a revoked device holds a retired key: the peers refuse its notices and its pairings; it cannot rotate itself (NO_NEXT_KEY)', async () => {
    const { relay, clock, alice, bob } = await pair();
    const { agent: laptop, home: laptopHome } = await agentOn(relay, clock, 'laptop');
    await pairOn(alice, laptop, 'device');
    await eventually(() => laptop.did === alice.did);
    expect(alice.rotation.devices().map((d) => d.name)).toEqual(['laptop']);
    await expect(laptop.rotation.rotate('scheduled')).rejects.toMatchObject({ code: 'NO_NEXT_KEY' });
    const oldDid = alice.did;
    const outcome = await alice.rotation.revokeDevice('laptop');
    expect(outcome).toMatchObject({ reason: 'deviceRevoked', revoked: { name: 'laptop' }, reAddDevices: [] });
    expect(alice.rotation.devices()).toEqual([]);
    await eventually(() => peerOf(bob, alice.did) !== undefined);
    expect(peerOf(bob, oldDid)).toBeUndefined();
    // The laptop's key (the identity's old one) signs a notice to bob: no pin has it any more.
    const { identity: laptopKey } = await stolen(laptopHome, 'laptop', 'identity');
    expect(laptopKey.did).toBe(oldDid);
    post(relay, bob, laptopKey, laptopKey, 7, { kind: 'ping' }, clock.now());
    const verdicts = async () => (await audited(bob, 'noticeReceived')).map((e) => e.verdict);
    await until(async () => (await verdicts()).includes('unknownSender'));
    expect(await verdicts()).toEqual(['applied', 'unknownSender']);
    // And its pairings with bob, either way round.
    const invite = await bob.createInvite({});
    await laptop.startAccept(invite.url!, false);
    const session = () => Object.values(bob.findInvite(invite.id).issuer.sessions)[0];
    await eventually(() => session()?.failure !== undefined);
    expect(session()?.failure).toBe('KEY_RETIRED');
    const laptopInvite = await laptop.createInvite({});
    await expect(bob.startAccept(laptopInvite.url!, false)).rejects.toMatchObject({ code: 'KEY_RETIRED' });
    await Promise.all([alice.stop(), bob.stop(), laptop.stop()]);
  });

  it.each(ROTATION_STEPS)(
    'alice killed at %s during a rotation: restarted, she is wholly after it, and bob hears exactly one rotation',
    async (point) => {
      const { relay, clock, alice, aliceHome, bob } = await pair();
      const heard = heardRotations(bob);
      const oldDid = alice.did;
      const crash = (step: RotationStep) => {
        if (step === point) throw new Error(`killed at ${step}`);
      };
      await expect(alice.rotation.rotate('scheduled', undefined, crash)).rejects.toThrow(
        `killed at ${point}`,
      );
      await alice.stop().catch(() => undefined);
      const { agent: again } = await agentOn(relay, clock, 'alice', aliceHome);
      expect(again.did).not.toBe(oldDid);
      expect(again.snapshot.rotations?.map((r) => [r.from, r.to])).toEqual([[oldDid, again.did]]);
      await eventually(
        () => peerOf(bob, again.did) !== undefined && (again.snapshot.outbox ?? []).length === 0,
      );
      expect(peerOf(bob, oldDid)).toBeUndefined();
      expect(heard.map((r) => r.did)).toEqual([again.did]);
      await Promise.all([again.stop(), bob.stop()]);
    },
  );

  it.each(ROTATION_STEPS)(
    'alice killed at %s while revoking a device: restarted, the device is gone and bob follows the rotation',
    async (point) => {
      const { relay, clock, alice, aliceHome, bob } = await pair();
      const { agent: laptop } = await agentOn(relay, clock, 'laptop');
      await pairOn(alice, laptop, 'device');
      const oldDid = alice.did;
      const crash = (step: RotationStep) => {
        if (step === point) throw new Error(`killed at ${step}`);
      };
      await expect(alice.rotation.revokeDevice('laptop', crash)).rejects.toThrow(`killed at ${point}`);
      await alice.stop().catch(() => undefined);
      const { agent: again } = await agentOn(relay, clock, 'alice', aliceHome);
      expect(again.did).not.toBe(oldDid);
      expect(again.rotation.devices()).toEqual([]);
      expect(again.snapshot.revokingDevice).toBeUndefined();
      expect(again.snapshot.rotations?.map((r) => [r.reason, r.revokedDevice])).toEqual([
        ['deviceRevoked', 'laptop'],
      ]);
      await eventually(() => peerOf(bob, again.did) !== undefined);
      expect(peerOf(bob, oldDid)).toBeUndefined();
      await Promise.all([again.stop(), bob.stop(), laptop.stop()]);
    },
  );
});
