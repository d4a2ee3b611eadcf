import {
  type CpaceInputs,
  cpaceGenerator,
  cpaceIsk,
  cpaceScalar,
  cpaceScalarMultVerify,
  scalarToBytes,
} from '../../src/crypto/cpace.js';
import { openFrame } from '../../src/crypto/frame-cipher.js';
import { decodeBase64url } from '../../src/encoding/base64url.js';
import { concatBytes, utf8 } from '../../src/encoding/binary.js';
import { fromHex, toHex } from '../../src/encoding/hex.js';
import type { AcceptorState } from '../../src/handshake/acceptor.js';
import { encodeDeviceBundle } from '../../src/handshake/device-bundle.js';
import type { Effect } from '../../src/handshake/effects.js';
import type { IssuerState } from '../../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { deriveSas, sasOutput } from '../../src/handshake/sas.js';
import {
  codeCpaceInputs,
  deriveSessionKeys,
  type SessionContext,
  type SessionKeys,
} from '../../src/handshake/session-keys.js';
import { transcriptAfterReply } from '../../src/handshake/transcript.js';
import { verifyCard } from '../../src/identity/card.js';
import { fingerprint } from '../../src/identity/identity.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { codeInviteId, parseShortCode } from '../../src/invite/short-code.js';
import {
  AcceptorDriver,
  IssuerDriver,
  MemoryExchange,
  makeParty,
  type Party,
  runUntilQuiet,
} from '../support/pairing-harness.js';
import { ed25519RuleCases } from './ed25519-rule.js';
import { inboxRunVectors } from './inbox-run.js';
import { noticeVectors } from './notices.js';

const NOW = 1_800_000_000;
const RELAY = 'https://relay.example.org';
const FRAME_NAMES = ['', 'hello', 'reply', 'confirm', 'welcome', 'abort', 'ack', 'sealedAbort'];

function partyVector(party: Party) {
  const card = verifyCard(party.card);
  return {
    name: party.name,
    signingSeed: toHex(party.secrets.signingSeed),
    agreementSecret: toHex(party.secrets.agreementSecret),
    signingPublicKey: toHex(card.signingKey),
    agreementPublicKey: toHex(card.agreementKey),
    did: party.identity.did,
    fingerprint: fingerprint(card.signingKey),
    // The card's own fields (§2), so it can be rebuilt without parsing the card.
    cardFields: { createdAt: card.createdAt, name: card.name, relayUrl: card.relayUrl },
    card: toHex(party.card),
  };
}

const SEALED_OFFSET: Record<string, number> = { reply: 18 + 32, confirm: 18, welcome: 18, ack: 18 };

function framesOf(keys: SessionKeys, ...parties: Party[]) {
  const frames: { from: string; type: string; to: string; bytes: string; plaintext?: string }[] = [];
  for (const party of parties) {
    for (const effect of party.effects) {
      if (effect.type !== 'send') continue;
      const type = FRAME_NAMES[effect.frame[1]!]!;
      const offset = SEALED_OFFSET[type];
      // Sealed frames also list what the seal covers (§6.1), so each layer can be checked alone.
      const direction =
        type === 'reply' || type === 'welcome' ? keys.issuerToAcceptor : keys.acceptorToIssuer;
      const plaintext =
        offset === undefined
          ? undefined
          : openFrame(direction, effect.frame[1]!, effect.frame.subarray(offset));
      frames.push({
        from: party.name,
        type,
        to: toHex(effect.to.mailboxId),
        bytes: toHex(effect.frame),
        ...(plaintext ? { plaintext: toHex(plaintext) } : {}),
      });
    }
  }
  return frames.sort((a, b) => FRAME_NAMES.indexOf(a.type) - FRAME_NAMES.indexOf(b.type));
}

function sessionVector(acceptor: AcceptorState, issuer: IssuerState, context: SessionContext) {
  const session = Object.values(issuer.sessions)[0]!;
  const keys = deriveSessionKeys(acceptor.sessionSecret!);
  const sas = deriveSas(keys.sas);
  const form = acceptor.target.form;
  const th1 = transcriptAfterReply(form, context, acceptor.share, session.share, acceptor.issuerCard!);
  return {
    sessionId: toHex(acceptor.sessionId),
    inviteId: toHex(context.inviteId),
    mailboxId: toHex(context.mailboxId),
    acceptorReplyMailbox: {
      mailboxId: toHex(acceptor.replyBox.mailboxId),
      writeCapability: toHex(acceptor.replyBox.writeCapability),
      readCapability: toHex(acceptor.replyBox.readCapability),
    },
    acceptorEphemeralSecret: toHex(acceptor.ephemeralSecret),
    acceptorShare: toHex(acceptor.share),
    issuerEphemeralSecret: toHex(session.ephemeralSecret),
    issuerShare: toHex(session.share),
    sessionSecret: toHex(acceptor.sessionSecret!),
    keys: {
      acceptorToIssuer: toHex(keys.acceptorToIssuer.key),
      issuerToAcceptor: toHex(keys.issuerToAcceptor.key),
      confirmAcceptor: toHex(keys.confirmAcceptor),
      confirmIssuer: toHex(keys.confirmIssuer),
      sas: toHex(keys.sas),
    },
    transcriptAfterReply: toHex(th1),
    transcriptFinal: toHex(acceptor.transcript!),
    sasOutput: toHex(sasOutput(keys.sas)),
    sas: { digits: sas.digits, emoji: sas.emoji, emojiNames: sas.emojiNames },
  };
}

function pinnedDids(party: Party): string[] {
  return party.effects
    .filter((e): e is Extract<Effect, { type: 'pin' }> => e.type === 'pin')
    .map((e) => e.peer.did);
}

/** The signed body of a URL invite (§4.2), without the label. */
function signedBody(invite: {
  mode: string;
  requireSas: boolean;
  issuerKey: Uint8Array;
  expiresAt: number;
  uses: number;
  secret: Uint8Array;
  relayUrl: string;
}) {
  const relay = utf8(invite.relayUrl);
  const out = new Uint8Array(2 + 32 + 4 + 2 + 16 + 1 + relay.length);
  const view = new DataView(out.buffer);
  out[0] = 1;
  out[1] = (invite.mode === 'device' ? 1 : 0) | (invite.requireSas ? 2 : 0);
  out.set(invite.issuerKey, 2);
  view.setUint32(34, invite.expiresAt);
  view.setUint16(38, invite.uses);
  out.set(invite.secret, 40);
  out[56] = relay.length;
  out.set(relay, 57);
  return out;
}

/** Each side's scalar (32 bytes, little-endian), the generator, K and ISK of the code session (§5). */
function cpaceSteps(inputs: CpaceInputs, acceptor: AcceptorState, session: IssuerState['sessions'][string]) {
  const ya = cpaceScalar(acceptor.ephemeralSecret)!;
  const yb = cpaceScalar(session.ephemeralSecret)!;
  const k = cpaceScalarMultVerify(ya, session.share)!;
  return {
    generator: toHex(cpaceGenerator(inputs.prs, inputs.ci, inputs.sid)),
    scalarA: toHex(scalarToBytes(ya)),
    scalarB: toHex(scalarToBytes(yb)),
    K: toHex(k),
    isk: toHex(cpaceIsk(inputs.sid, k, acceptor.share, inputs.adA, session.share, inputs.adB)),
  };
}

/** Builds every published vector from fixed seeds; deterministic byte for byte. */
export function generateProtocolVectors() {
  const policy = resolveInvitePolicy({ format: 'url' });
  // URL form.
  const urlExchange = new MemoryExchange(NOW);
  const alice = makeParty('alice', NOW, RELAY);
  const bob = makeParty('bob', NOW, RELAY);
  const minted = mintUrlInvite(alice.identity, policy, RELAY, NOW, alice.random);
  const urlIssuer = new IssuerDriver(alice, minted.issuer, urlExchange);
  const urlAcceptor = new AcceptorDriver(
    bob,
    { form: 'url', invite: parseInviteUrl(minted.webUrl, NOW) },
    false,
    urlExchange,
  );
  runUntilQuiet(urlIssuer, [urlAcceptor]);
  const invite = minted.invite;
  const urlVector = {
    policy,
    invite: {
      mode: invite.mode,
      requireSas: invite.requireSas,
      relayUrl: invite.relayUrl,
      expiresAt: invite.expiresAt,
      uses: invite.uses,
      secret: toHex(invite.secret),
      signature: toHex(invite.signature),
      mailboxId: toHex(invite.mailboxId),
      writeCapability: toHex(invite.writeCapability),
      inviteId: toHex(invite.inviteId),
      // What Ed25519 signs (§4.2): the label, 0x00, then the signed body.
      signedMessage: toHex(concatBytes(utf8('pairlink/v1/invite'), Uint8Array.of(0), signedBody(invite))),
      signedBody: toHex(signedBody(invite)),
      customPayload: toHex(decodeBase64url(minted.customUrl.slice('pairlink://invite/'.length), 1024)),
      webPayload: toHex(decodeBase64url(minted.webUrl.slice(minted.webUrl.indexOf('#') + 1), 1024)),
      customUrl: minted.customUrl,
      webUrl: minted.webUrl,
    },
    session: sessionVector(urlAcceptor.state, urlIssuer.state, {
      inviteId: invite.inviteId,
      mailboxId: invite.mailboxId,
      sessionId: urlAcceptor.state.sessionId,
    }),
    frames: framesOf(deriveSessionKeys(urlAcceptor.state.sessionSecret!), alice, bob),
    pinned: { alice: pinnedDids(alice), bob: pinnedDids(bob) },
  };

  // Code form.
  const codeExchange = new MemoryExchange(NOW);
  const carol = makeParty('carol', NOW, RELAY);
  const dave = makeParty('dave', NOW, RELAY);
  const codePolicy = resolveInvitePolicy({ format: 'code' });
  const mailboxId = carol.random(16);
  const claimCapability = carol.random(16);
  const code = mintCodeInvite(codePolicy, 'K7Q', mailboxId, NOW, carol.random);
  const codeIssuer = new IssuerDriver(carol, code.issuer, codeExchange);
  const codeAcceptor = new AcceptorDriver(
    dave,
    {
      form: 'code',
      code: parseShortCode(code.text),
      issuerMailbox: { mailboxId, writeCapability: claimCapability },
      expiresAt: NOW + codePolicy.ttlSeconds,
    },
    false,
    codeExchange,
  );
  runUntilQuiet(codeIssuer, [codeAcceptor]);
  const context = {
    inviteId: codeInviteId('K7Q', mailboxId),
    mailboxId,
    sessionId: codeAcceptor.state.sessionId,
  };
  const cpace = codeCpaceInputs(code.code, context);
  const codeVector = {
    policy: codePolicy,
    code: {
      text: code.text,
      nameplate: code.code.nameplate,
      secret: code.code.secret,
      claimWriteCapability: toHex(claimCapability),
    },
    cpace: {
      prs: toHex(cpace.prs),
      ci: toHex(cpace.ci),
      sid: toHex(cpace.sid),
      adA: toHex(cpace.adA),
      adB: toHex(cpace.adB),
      ...cpaceSteps(cpace, codeAcceptor.state, Object.values(codeIssuer.state.sessions)[0]!),
    },
    session: sessionVector(codeAcceptor.state, codeIssuer.state, context),
    frames: framesOf(deriveSessionKeys(codeAcceptor.state.sessionSecret!), carol, dave),
    pinned: { carol: pinnedDids(carol), dave: pinnedDids(dave) },
  };

  const notices = noticeVectors({
    alice,
    bob,
    now: NOW,
    relayUrl: RELAY,
    sessionId: urlAcceptor.state.sessionId,
    issuerToAcceptor: deriveSessionKeys(urlAcceptor.state.sessionSecret!).issuerToAcceptor.key,
  });
  return {
    description:
      'pairlink protocol v1 test vectors. All randomness comes from the values listed here; see docs/PROTOCOL.md for every layout and label. Hex is lowercase; times are Unix seconds.',
    now: NOW,
    parties: {
      alice: partyVector(alice),
      bob: partyVector(bob),
      carol: partyVector(carol),
      dave: partyVector(dave),
    },
    url: urlVector,
    code: codeVector,
    // §11: alice's inbox, pre-rotation keys and one notice of each kind to bob.
    notices,
    // §11.1: the URL pairing again with both sides handing over their inboxes, frame by frame.
    inboxRun: inboxRunVectors({ now: NOW, relayUrl: RELAY, issuerExtension: notices.inboxFrame.extension }),
    // §6.8: the device bundle alice's welcome would carry in device mode: her current secrets and
    // the commitment to her next key (notices.rotation), never the next key itself.
    deviceBundle: {
      party: 'alice',
      name: 'alice',
      nextKeyCommitment: notices.rotation.nextKeyCommitment,
      bytes: toHex(
        encodeDeviceBundle({
          ...alice.secrets,
          nextKeyCommitment: fromHex(notices.rotation.nextKeyCommitment),
          name: 'alice',
        }),
      ),
    },
    // §1's strict Ed25519 rule at its edges: what every implementation must answer for each.
    ed25519Rule: ed25519RuleCases().map((c) => ({
      name: c.name,
      publicKey: toHex(c.publicKey),
      message: toHex(c.message),
      signature: toHex(c.signature),
      valid: c.valid,
    })),
  };
}
