import type { Ed25519SigningKey } from '../../src/crypto/ed25519.js';
import { toHex } from '../../src/encoding/hex.js';
import { issueCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import {
  encodeSignedNotice,
  type Notice,
  noticeSignatureMessage,
  openNotice,
  sealNotice,
  sealNoticePlaintext,
} from '../../src/notice/envelope.js';
import type { NoticeBody } from '../../src/notice/notice-body.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import { judgeNotice, type PeerTrust, type Verdict } from '../../src/notice/verdict.js';
import { makeParty, type Party } from './pairing-harness.js';

// Two paired agents at the pure level: alice sends notices, bob judges them against what he
// pinned, the way an agent will (look the peer up by the sender key, judge, re-pin on apply).

export const NOW = 1_800_000_000;
export const TTL = 30 * 86_400;

/** What bob pinned about alice at pairing: her keys and her next-key commitment. */
export function trustIn(identity: Identity, next: Identity | null): PeerTrust {
  return {
    signingKey: identity.signing.publicKey,
    agreementKey: identity.agreement.publicKey,
    nextKeyCommitment: next ? nextKeyCommitment(next.signing.publicKey) : null,
    lastCounter: 0,
  };
}

/** Bob's side: his pins by sender key, and what each delivered notice came to. */
export class Receiver {
  readonly pins = new Map<string, PeerTrust>();

  constructor(
    readonly party: Party,
    readonly now = NOW,
  ) {}

  pin(peer: PeerTrust): void {
    this.pins.set(toHex(peer.signingKey), peer);
  }

  /** Opens, judges and (on apply) re-pins, as an agent will; null when it does not open. */
  deliver(bytes: Uint8Array): Verdict | null {
    const opened = openNotice(bytes, this.party.identity.agreement);
    if (!opened) return null;
    const key = toHex(opened.notice.sender);
    const verdict = judgeNotice(opened, {
      ownKeys: [this.party.identity.signing.publicKey],
      peer: this.pins.get(key) ?? null,
      now: this.now,
    });
    if (verdict.outcome === 'apply') {
      this.pins.delete(key);
      if (verdict.notice.body.kind !== 'unpair') this.pin(verdict.peer);
    }
    return verdict;
  }
}

/** A notice from `sender` (as bob knows it) to bob, signed by `signer`, sealed to bob. */
export function noticeTo(
  bob: Party,
  sender: Uint8Array,
  signer: Ed25519SigningKey,
  counter: number,
  body: NoticeBody,
  random = bob.random,
  times = { sentAt: NOW, expiresAt: NOW + TTL },
): Uint8Array {
  const notice: Notice = { sender, receiver: bob.identity.signing.publicKey, counter, ...times, body };
  return sealNotice(notice, signer, bob.identity.agreement.publicKey, random);
}

/**
 * A forgery: `notice` signed by whatever key the attacker holds, sealed to bob. `sealNotice` refuses
 * to sign as anyone but the sender, so an attacker builds the bytes from the spec, as here.
 */
export function forgedTo(
  bob: Party,
  sender: Uint8Array,
  signer: Ed25519SigningKey,
  counter: number,
  body: NoticeBody,
): Uint8Array {
  const notice: Notice = {
    sender,
    receiver: bob.identity.signing.publicKey,
    counter,
    sentAt: NOW,
    expiresAt: NOW + TTL,
    body,
  };
  const signed = encodeSignedNotice(notice);
  const plaintext = Uint8Array.of(...signed, ...signer.sign(noticeSignatureMessage(signed)));
  return sealNoticePlaintext(plaintext, bob.identity.agreement.publicKey, bob.random);
}

/** A rotate body revealing `next` (its card, signed by it) and committing to `afterNext`. */
export function rotateBody(
  next: Identity,
  afterNext: Identity,
  reason: 'scheduled' | 'deviceRevoked' | 'compromised' = 'scheduled',
): NoticeBody {
  return {
    kind: 'rotate',
    reason,
    card: issueCard(next, 'alice', 'https://relay.example', NOW).bytes,
    nextKeyCommitment: nextKeyCommitment(afterNext.signing.publicKey),
  };
}

/** Alice (with her next and after-next identities), bob who pinned her, and a stranger. */
export function noticePair() {
  const alice = makeParty('alice', NOW);
  const bob = makeParty('bob', NOW);
  const next = Identity.generate(alice.random).identity;
  const afterNext = Identity.generate(alice.random).identity;
  const receiver = new Receiver(bob);
  receiver.pin(trustIn(alice.identity, next));
  return { alice, bob, next, afterNext, receiver, stranger: makeParty('mallory', NOW) };
}
