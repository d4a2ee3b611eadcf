import { openFrame } from '../../src/crypto/frame-cipher.js';
import { fromHex, toHex } from '../../src/encoding/hex.js';
import { FRAME_TYPE } from '../../src/handshake/frames.js';
import { mintUrlInvite } from '../../src/handshake/mint.js';
import { deriveSessionKeys } from '../../src/handshake/session-keys.js';
import { Identity } from '../../src/identity/identity.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import {
  decodeInboxExtension,
  encodeInbox,
  encodeInboxExtension,
  type InboxExtension,
} from '../../src/notice/inbox.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import {
  AcceptorDriver,
  effectsOf,
  IssuerDriver,
  MemoryExchange,
  makeParty,
  runUntilQuiet,
} from '../support/pairing-harness.js';
import { seededRandom } from '../support/seeded-random.js';

// The `inboxRun` group of docs/test-vectors.json (PROTOCOL.md §10.1, §11.1): the URL pairing of
// the `url` group again, from the same seeds, with both sides speaking notices. Alice hands over
// the inbox and commitment of the `notices` group, bob one drawn here; every frame is listed in
// the order posted, so the two inbox frames stand where §11.1 puts them.

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(FRAME_TYPE).map(([k, v]) => [v, k]));

export interface InboxRunInputs {
  readonly now: number;
  readonly relayUrl: string;
  /** The `notices` group's `inboxFrame.extension`: alice's inbox and next-key commitment. */
  readonly issuerExtension: string;
}

/** Builds the `inboxRun` group; deterministic byte for byte. */
export function inboxRunVectors(input: InboxRunInputs) {
  const { now, relayUrl } = input;
  const aliceExtension = decodeInboxExtension(fromHex(input.issuerExtension));
  const source = seededRandom('inbox-run:bob');
  const bobInbox = { relayUrl, mailboxId: source(16), writeCapability: source(16) };
  const bobNext = Identity.generate(source);
  const bobExtension: InboxExtension = {
    nextKeyCommitment: nextKeyCommitment(bobNext.identity.signing.publicKey),
    inbox: bobInbox,
  };
  // The same parties and invite as the `url` group: their seeded streams draw the same values.
  const exchange = new MemoryExchange(now);
  const alice = { ...makeParty('alice', now, relayUrl), inboxFor: () => aliceExtension };
  const bob = { ...makeParty('bob', now, relayUrl), inboxFor: () => bobExtension };
  const minted = mintUrlInvite(
    alice.identity,
    resolveInvitePolicy({ format: 'url' }),
    relayUrl,
    now,
    alice.random,
  );
  const issuer = new IssuerDriver(alice, minted.issuer, exchange);
  // Every post in order, the acceptor's hello (sent as it starts) included.
  const posted: { to: string; frame: Uint8Array }[] = [];
  exchange.tamper = (frame, to) => {
    posted.push({ to, frame });
    return [frame];
  };
  const acceptor = new AcceptorDriver(
    bob,
    { form: 'url', invite: parseInviteUrl(minted.webUrl, now) },
    false,
    exchange,
  );
  runUntilQuiet(issuer, [acceptor]);
  const keys = deriveSessionKeys(acceptor.state.sessionSecret!);
  const replyBox = toHex(acceptor.state.replyBox.mailboxId);
  const frames = posted.map(({ to, frame }) => {
    const type = NAMES[frame[1]!]!;
    const fromIssuer = to === replyBox;
    const offset = type === 'reply' ? 18 + 32 : type === 'hello' ? undefined : 18;
    const direction = fromIssuer ? keys.issuerToAcceptor : keys.acceptorToIssuer;
    const plaintext =
      offset === undefined ? undefined : openFrame(direction, frame[1]!, frame.subarray(offset));
    return {
      from: fromIssuer ? 'alice' : 'bob',
      type,
      to,
      bytes: toHex(frame),
      ...(plaintext ? { plaintext: toHex(plaintext) } : {}),
    };
  });
  const bobPin = effectsOf(bob, 'pin')[0]!;
  const alicePin = effectsOf(alice, 'pin')[0]!;
  const aliceConfirm = effectsOf(alice, 'confirmPin')[0]!;
  return {
    issuer: 'alice',
    acceptor: 'bob',
    acceptorInbox: {
      relayUrl,
      mailboxId: toHex(bobInbox.mailboxId),
      writeCapability: toHex(bobInbox.writeCapability),
      bytes: toHex(encodeInbox(bobInbox)),
      nextSigningSeed: toHex(bobNext.secrets.signingSeed),
      nextAgreementSecret: toHex(bobNext.secrets.agreementSecret),
      nextSigningPublicKey: toHex(bobNext.identity.signing.publicKey),
      nextKeyCommitment: toHex(bobExtension.nextKeyCommitment),
      extension: toHex(encodeInboxExtension(bobExtension)),
    },
    frames,
    // What each side's pin records (§11.1): the peer, its inbox extension, the capability handed to it.
    pinned: {
      alice: {
        did: aliceConfirm.did,
        peerInbox: toHex(encodeInboxExtension(aliceConfirm.peerInbox!)),
        handedWriteCapability: toHex(alicePin.handedWriteCapability!),
      },
      bob: {
        did: bobPin.peer.did,
        peerInbox: toHex(encodeInboxExtension(bobPin.peerInbox!)),
        handedWriteCapability: toHex(bobPin.handedWriteCapability!),
      },
    },
  };
}
