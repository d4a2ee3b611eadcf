import { toHex } from '../../src/encoding/hex.js';
import type { AcceptorState } from '../../src/handshake/acceptor.js';
import type { Effect } from '../../src/handshake/effects.js';
import type { IssuerState } from '../../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { deriveSas } from '../../src/handshake/sas.js';
import { codeCpaceInputs, deriveSessionKeys, type SessionContext } from '../../src/handshake/session-keys.js';
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
    card: toHex(party.card),
  };
}

function framesOf(...parties: Party[]) {
  const frames: { from: string; type: string; to: string; bytes: string }[] = [];
  for (const party of parties) {
    for (const effect of party.effects) {
      if (effect.type !== 'send') continue;
      frames.push({
        from: party.name,
        type: FRAME_NAMES[effect.frame[1]!]!,
        to: toHex(effect.to.mailboxId),
        bytes: toHex(effect.frame),
      });
    }
  }
  return frames.sort((a, b) => FRAME_NAMES.indexOf(a.type) - FRAME_NAMES.indexOf(b.type));
}

function sessionVector(acceptor: AcceptorState, issuer: IssuerState, context: SessionContext) {
  const session = Object.values(issuer.sessions)[0]!;
  const keys = deriveSessionKeys(acceptor.sessionSecret!);
  const sas = deriveSas(keys.sas);
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
    transcriptFinal: toHex(acceptor.transcript!),
    sas: { digits: sas.digits, emoji: sas.emoji, emojiNames: sas.emojiNames },
  };
}

function pinnedDids(party: Party): string[] {
  return party.effects
    .filter((e): e is Extract<Effect, { type: 'pin' }> => e.type === 'pin')
    .map((e) => e.peer.did);
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
      customUrl: minted.customUrl,
      webUrl: minted.webUrl,
    },
    session: sessionVector(urlAcceptor.state, urlIssuer.state, {
      inviteId: invite.inviteId,
      mailboxId: invite.mailboxId,
      sessionId: urlAcceptor.state.sessionId,
    }),
    frames: framesOf(alice, bob),
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
    },
    session: sessionVector(codeAcceptor.state, codeIssuer.state, context),
    frames: framesOf(carol, dave),
    pinned: { carol: pinnedDids(carol), dave: pinnedDids(dave) },
  };

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
  };
}
