import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/encoding/hex.js';
import { Identity } from '../../src/identity/identity.js';
import { openNotice, sealNoticePlaintext } from '../../src/notice/envelope.js';
import {
  forgedTo,
  NOW,
  noticePair,
  noticeTo,
  Receiver,
  rotateBody,
  trustIn,
} from '../support/notice-pair.js';
import { makeParty } from '../support/pairing-harness.js';

// The adversarial cases of issue #27 at the pure level (docs/SECURITY.md §Key rotation): each
// plays an attacker against bob, who pinned alice, and asserts that nothing is applied.

describe('notices under attack', () => {
  it('a replayed notice applies once: the copy is a duplicate', () => {
    const { alice, bob, receiver } = noticePair();
    const ping = noticeTo(bob, alice.identity.signing.publicKey, alice.identity.signing, 1, { kind: 'ping' });
    expect(receiver.deliver(ping)?.outcome).toBe('apply');
    expect(receiver.deliver(ping)?.outcome).toBe('duplicate');
    expect(receiver.deliver(ping)?.outcome).toBe('duplicate');
  });

  it('a reordered notice is dropped: the later one applied first', () => {
    const { alice, bob, receiver } = noticePair();
    const me = alice.identity.signing;
    const first = noticeTo(bob, me.publicKey, me, 1, { kind: 'unpair' });
    const second = noticeTo(bob, me.publicKey, me, 2, { kind: 'ping' });
    expect(receiver.deliver(second)?.outcome).toBe('apply');
    expect(receiver.deliver(first)?.outcome).toBe('duplicate');
    expect(receiver.pins.size).toBe(1); // the unpair was not applied
  });

  it('a notice from a key bob has not pinned (a stranger, a peer he unpaired) is refused', () => {
    const { bob, receiver, stranger } = noticePair();
    const me = stranger.identity.signing;
    expect(receiver.deliver(noticeTo(bob, me.publicKey, me, 1, { kind: 'unpair' }))).toEqual({
      outcome: 'refused',
      reason: 'unknownSender',
    });
  });

  it("a notice in alice's name signed by another key is refused", () => {
    const { alice, bob, receiver, stranger } = noticePair();
    const forged = forgedTo(bob, alice.identity.signing.publicKey, stranger.identity.signing, 1, {
      kind: 'unpair',
    });
    expect(receiver.deliver(forged)).toEqual({ outcome: 'refused', reason: 'badSignature' });
    expect(receiver.pins.size).toBe(1);
  });

  it('a tampered notice never applies: each flipped byte fails to open or is refused', () => {
    const { alice, bob, receiver } = noticePair();
    const me = alice.identity.signing;
    const unpair = noticeTo(bob, me.publicKey, me, 1, { kind: 'unpair' });
    for (let i = 0; i < unpair.length; i++) {
      const copy = Uint8Array.from(unpair);
      copy[i]! ^= 0x01;
      let outcome: string | null;
      try {
        outcome = receiver.deliver(copy)?.outcome ?? null;
      } catch {
        outcome = 'malformed';
      }
      expect(outcome, `byte ${i}`).not.toBe('apply');
    }
    expect(receiver.pins.size).toBe(1);
  });

  it('a notice alice sealed to dave, re-sealed by dave to bob, is refused as misaddressed', () => {
    const { alice, bob, receiver } = noticePair();
    const dave = makeParty('dave', NOW);
    const me = alice.identity.signing;
    const toDave = noticeTo(dave, me.publicKey, me, 1, { kind: 'unpair' });
    const opened = openNotice(toDave, dave.identity.agreement)!;
    const plaintext = Uint8Array.of(...opened.signed, ...opened.signature);
    const resealed = sealNoticePlaintext(plaintext, bob.identity.agreement.publicKey, dave.random);
    expect(receiver.deliver(resealed)).toEqual({ outcome: 'refused', reason: 'misaddressed' });
  });
});

describe('rotation under attack (pre-rotation, PROTOCOL.md §11.6)', () => {
  it('a rotation to a key whose digest is not the commitment is refused', () => {
    const { alice, bob, afterNext, receiver } = noticePair();
    const other = Identity.generate(alice.random).identity;
    const forged = noticeTo(
      bob,
      alice.identity.signing.publicKey,
      other.signing,
      1,
      rotateBody(other, afterNext),
    );
    expect(receiver.deliver(forged)).toEqual({ outcome: 'refused', reason: 'notCommitted' });
  });

  it("the thief's race: the thief (current key only) rotates first and is refused; the owner's rotation is accepted", () => {
    const { alice, bob, next, afterNext, receiver } = noticePair();
    const thief = Identity.fromSecrets(alice.secrets); // a copy of the current key only
    const thiefsKey = Identity.generate(makeParty('thief', NOW).random).identity;
    const current = alice.identity.signing.publicKey;
    // He signs with his new key, then with the stolen one: neither is the committed key.
    const mine = noticeTo(bob, current, thiefsKey.signing, 1, rotateBody(thiefsKey, thiefsKey));
    const stolen = forgedTo(bob, current, thief.signing, 2, rotateBody(thiefsKey, thiefsKey));
    expect(receiver.deliver(mine)).toEqual({ outcome: 'refused', reason: 'notCommitted' });
    expect(receiver.deliver(stolen)).toEqual({ outcome: 'refused', reason: 'notCommitted' });
    // He burns the counter space with the stolen key; the owner's rotation still applies.
    expect(
      receiver.deliver(noticeTo(bob, current, thief.signing, 0xffffffff, { kind: 'ping' }))?.outcome,
    ).toBe('apply');
    const owners = noticeTo(bob, current, next.signing, 3, rotateBody(next, afterNext, 'compromised'));
    expect(receiver.deliver(owners)).toMatchObject({ outcome: 'apply', retiredKey: current });
    const pinned = receiver.pins.get(toHex(next.signing.publicKey))!;
    expect(pinned.lastCounter).toBe(3);
    expect(pinned.agreementKey).toEqual(next.agreement.publicKey);
    // From now on the stolen key is nobody's: its notices are refused.
    expect(receiver.deliver(noticeTo(bob, current, thief.signing, 4, { kind: 'unpair' }))).toEqual({
      outcome: 'refused',
      reason: 'unknownSender',
    });
  });

  it('after a device revocation, the revoked device (old key) is refused however it signs', () => {
    const { alice, bob, next, afterNext, receiver } = noticePair();
    const revoked = Identity.fromSecrets(alice.secrets); // what device mode gave the other device
    const old = alice.identity.signing.publicKey;
    const revocation = noticeTo(bob, old, next.signing, 1, rotateBody(next, afterNext, 'deviceRevoked'));
    expect(receiver.deliver(revocation)?.outcome).toBe('apply');
    expect(receiver.deliver(revocation)).toEqual({ outcome: 'refused', reason: 'unknownSender' }); // replayed
    const asOld = noticeTo(bob, old, revoked.signing, 2, { kind: 'inboxMoved', inbox: inboxOf() });
    const asNew = forgedTo(bob, next.signing.publicKey, revoked.signing, 2, { kind: 'unpair' });
    expect(receiver.deliver(asOld)).toEqual({ outcome: 'refused', reason: 'unknownSender' });
    expect(receiver.deliver(asNew)).toEqual({ outcome: 'refused', reason: 'badSignature' });
    // It cannot rotate back either: the pinned commitment is now the after-next key's.
    const back = noticeTo(bob, next.signing.publicKey, revoked.signing, 3, rotateBody(revoked, revoked));
    expect(receiver.deliver(back)).toEqual({ outcome: 'refused', reason: 'notCommitted' });
    expect([...receiver.pins.keys()]).toEqual([toHex(next.signing.publicKey)]);
  });

  it('a peer pinned without a commitment (paired before notices) refuses every rotation', () => {
    const { alice, bob, next, afterNext } = noticePair();
    const receiver = new Receiver(bob);
    receiver.pin(trustIn(alice.identity, null));
    const rotation = noticeTo(
      bob,
      alice.identity.signing.publicKey,
      next.signing,
      1,
      rotateBody(next, afterNext),
    );
    expect(receiver.deliver(rotation)).toEqual({ outcome: 'refused', reason: 'noCommitment' });
  });
});

function inboxOf() {
  return {
    relayUrl: 'https://evil.example',
    mailboxId: new Uint8Array(16),
    writeCapability: new Uint8Array(16),
  };
}
