import type { RandomSource } from '../../src/crypto/random.js';
import { X25519KeyPair } from '../../src/crypto/x25519.js';
import { toHex } from '../../src/encoding/hex.js';
import { issueCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import {
  deriveNoticeKey,
  type Notice,
  noticeSignatureMessage,
  openNotice,
  sealNotice,
} from '../../src/notice/envelope.js';
import { buildInboxFrame, encodeInbox, encodeInboxExtension, type Inbox } from '../../src/notice/inbox.js';
import { encodeNoticeBody, type NoticeBody } from '../../src/notice/notice-body.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import type { Party } from '../support/pairing-harness.js';
import { seededRandom } from '../support/seeded-random.js';

// The `notices` group of docs/test-vectors.json (PROTOCOL.md §11): alice's inbox as bob learns it,
// her inbox frame in the URL pairing's session, her pre-rotation keys, one notice of each kind to
// bob, and a thief's key that is not the committed one. Every random value drawn is listed.

const TTL = 30 * 86_400;

/** A RandomSource that remembers what it handed out last. */
function recording(random: RandomSource) {
  const drawn: Uint8Array[] = [];
  return { random: (n: number) => drawn[drawn.push(random(n)) - 1]!, last: () => drawn.at(-1)! };
}

export interface NoticeVectorInputs {
  readonly alice: Party;
  readonly bob: Party;
  readonly now: number;
  readonly relayUrl: string;
  /** The URL pairing's session (alice issued): the inbox frame is sealed in it. */
  readonly sessionId: Uint8Array;
  readonly issuerToAcceptor: Uint8Array;
}

/** Builds the `notices` group; deterministic byte for byte. */
export function noticeVectors(input: NoticeVectorInputs) {
  const { alice, bob, now } = input;
  const source = recording(seededRandom('notices'));
  const inbox: Inbox = {
    relayUrl: input.relayUrl,
    mailboxId: source.random(16),
    writeCapability: source.random(16),
  };
  const drawIdentity = () => {
    const { identity, secrets } = Identity.generate(source.random);
    return { identity, secrets };
  };
  const next = drawIdentity();
  const afterNext = drawIdentity();
  const thief = drawIdentity();
  const newCard = issueCard(next.identity, 'alice', input.relayUrl, now + 60);
  const commitment = nextKeyCommitment(next.identity.signing.publicKey);
  const extension = { nextKeyCommitment: commitment, inbox };

  const bodies: [number, NoticeBody][] = [
    [1, { kind: 'ping' }],
    [2, { kind: 'inboxMoved', inbox }],
    [0, { kind: 'receipt', counter: 1 }],
    [3, { kind: 'unpair' }],
    [
      4,
      {
        kind: 'rotate',
        reason: 'deviceRevoked',
        card: newCard.bytes,
        nextKeyCommitment: nextKeyCommitment(afterNext.identity.signing.publicKey),
      },
    ],
  ];
  const notices = bodies.map(([counter, body]) => {
    const notice: Notice = {
      sender: alice.identity.signing.publicKey,
      receiver: bob.identity.signing.publicKey,
      counter,
      sentAt: now + 60 + counter,
      expiresAt: now + 60 + counter + TTL,
      body,
    };
    const signer = body.kind === 'rotate' ? next.identity.signing : alice.identity.signing;
    const bytes = sealNotice(notice, signer, bob.identity.agreement.publicKey, source.random);
    const ephemeralSecret = source.last();
    const ephemeral = X25519KeyPair.fromSecret(ephemeralSecret);
    const bobKey = bob.identity.agreement.publicKey;
    const shared = ephemeral.sharedSecret(bobKey)!;
    const opened = openNotice(bytes, bob.identity.agreement)!;
    return {
      kind: body.kind,
      counter,
      sentAt: notice.sentAt,
      expiresAt: notice.expiresAt,
      ...(body.kind === 'rotate' ? { reason: body.reason } : {}),
      ...(body.kind === 'receipt' ? { receiptFor: body.counter } : {}),
      body: toHex(encodeNoticeBody(body)),
      signed: toHex(opened.signed),
      signedMessage: toHex(noticeSignatureMessage(opened.signed)),
      signature: toHex(opened.signature),
      ephemeralSecret: toHex(ephemeralSecret),
      ephemeralShare: toHex(ephemeral.publicKey),
      shared: toHex(shared),
      key: toHex(deriveNoticeKey(shared, ephemeral.publicKey, bobKey)),
      bytes: toHex(bytes),
    };
  });

  return {
    sender: 'alice',
    receiver: 'bob',
    inbox: {
      relayUrl: inbox.relayUrl,
      mailboxId: toHex(inbox.mailboxId),
      writeCapability: toHex(inbox.writeCapability),
      bytes: toHex(encodeInbox(inbox)),
    },
    rotation: {
      nextSigningSeed: toHex(next.secrets.signingSeed),
      nextAgreementSecret: toHex(next.secrets.agreementSecret),
      nextSigningPublicKey: toHex(next.identity.signing.publicKey),
      nextKeyCommitment: toHex(commitment),
      afterNextSigningSeed: toHex(afterNext.secrets.signingSeed),
      afterNextAgreementSecret: toHex(afterNext.secrets.agreementSecret),
      afterNextSigningPublicKey: toHex(afterNext.identity.signing.publicKey),
      afterNextKeyCommitment: toHex(nextKeyCommitment(afterNext.identity.signing.publicKey)),
      newCardFields: { createdAt: newCard.createdAt, name: newCard.name, relayUrl: newCard.relayUrl },
      newCard: toHex(newCard.bytes),
    },
    // Alice's inbox frame in the URL pairing above, posted before her welcome (§11.1).
    inboxFrame: {
      extension: toHex(encodeInboxExtension(extension)),
      frame: toHex(buildInboxFrame({ key: input.issuerToAcceptor }, input.sessionId, extension)),
    },
    notices,
    // A thief with alice's current key and one of his own: its digest is not the commitment.
    thief: {
      signingSeed: toHex(thief.secrets.signingSeed),
      agreementSecret: toHex(thief.secrets.agreementSecret),
      signingPublicKey: toHex(thief.identity.signing.publicKey),
      keyCommitment: toHex(nextKeyCommitment(thief.identity.signing.publicKey)),
      matchesPinnedCommitment: false,
    },
  };
}
