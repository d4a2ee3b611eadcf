import { type CpaceInputs, cpaceFinish, cpaceGenerator, cpaceScalar, cpaceShare } from '../crypto/cpace.js';
import { hkdfExpand, hkdfExpandLabel, hkdfExtract, macSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import { X25519KeyPair } from '../crypto/x25519.js';
import { concatBytes, lvCat, utf8 } from '../encoding/binary.js';
import type { ShortCode } from '../invite/short-code.js';

/** Every key one session uses, one per purpose and direction. */
export interface SessionKeys {
  readonly acceptorToIssuer: { readonly key: Uint8Array };
  readonly issuerToAcceptor: { readonly key: Uint8Array };
  readonly confirmAcceptor: Uint8Array;
  readonly confirmIssuer: Uint8Array;
  readonly sas: Uint8Array;
}

/**
 * A session's keys, derived once per secret held in memory: a session's steps (its confirm, its
 * inbox frame, an abort) ask again for the keys of the secret its state keeps, and got six HKDF
 * calls each time. Weakly held, so they go with the state; a secret read back from disk is a new
 * array and derives them again. The secret is never changed in place.
 */
const derived = new WeakMap<Uint8Array, SessionKeys>();

/** Splits a 32-byte session secret into the per-purpose keys (HKDF-SHA-256, one label each). */
export function deriveSessionKeys(sessionSecret: Uint8Array): SessionKeys {
  let keys = derived.get(sessionSecret);
  if (!keys) {
    keys = splitSessionSecret(sessionSecret);
    derived.set(sessionSecret, keys);
  }
  return keys;
}

function splitSessionSecret(sessionSecret: Uint8Array): SessionKeys {
  const prk = hkdfExtract(sessionSecret, new Uint8Array(32));
  return {
    acceptorToIssuer: { key: hkdfExpandLabel(prk, LABELS.keyAcceptorToIssuer, 32) },
    issuerToAcceptor: { key: hkdfExpandLabel(prk, LABELS.keyIssuerToAcceptor, 32) },
    confirmAcceptor: hkdfExpandLabel(prk, LABELS.keyConfirmAcceptor, 32),
    confirmIssuer: hkdfExpandLabel(prk, LABELS.keyConfirmIssuer, 32),
    sas: hkdfExpandLabel(prk, LABELS.keySas, 32),
  };
}

/** Public context both sides bind the session secret to. */
export interface SessionContext {
  readonly inviteId: Uint8Array;
  readonly mailboxId: Uint8Array;
  readonly sessionId: Uint8Array;
}

/**
 * CPace inputs for a code: PRS is the secret part; CI binds the protocol, nameplate and mailbox;
 * sid is the acceptor's fresh session id; ADa/ADb name the roles, so a run can be neither reflected
 * nor role-swapped. Identities are bound later, in the signed and MACed transcript.
 */
export function codeCpaceInputs(code: ShortCode, context: SessionContext): CpaceInputs {
  return {
    prs: utf8(code.secret),
    ci: lvCat(utf8(LABELS.codeChannel), utf8(code.nameplate), context.mailboxId, context.inviteId),
    sid: context.sessionId,
    adA: utf8(LABELS.codeInitiator),
    adB: utf8(LABELS.codeResponder),
  };
}

/** The secret an invite form rests on: the URL's 128-bit secret, or the code. */
export type FormSecret =
  | { readonly form: 'url'; readonly secret: Uint8Array }
  | { readonly form: 'code'; readonly code: ShortCode };

export type HandshakeRole = 'acceptor' | 'issuer';

/**
 * This side's public share from its 32-byte ephemeral secret: an X25519 public key (URL form) or
 * a CPace share (code form). Null only for a CPace scalar of zero; the caller draws again.
 */
export function makeShare(
  formSecret: FormSecret,
  context: SessionContext,
  ephemeralSecret: Uint8Array,
): Uint8Array | null {
  if (formSecret.form === 'url') return X25519KeyPair.fromSecret(ephemeralSecret).publicKey;
  const scalar = cpaceScalar(ephemeralSecret);
  if (scalar === null) return null;
  const inputs = codeCpaceInputs(formSecret.code, context);
  return cpaceShare(cpaceGenerator(inputs.prs, inputs.ci, inputs.sid), scalar);
}

/**
 * Draws ephemeral secrets (`draw(0)`, `draw(1)`, …) until one makes a share; only a CPace scalar
 * of zero fails, with probability 2^-252.
 */
export function drawShare(
  formSecret: FormSecret,
  context: SessionContext,
  draw: (attempt: number) => Uint8Array,
): { ephemeralSecret: Uint8Array; share: Uint8Array } {
  for (let attempt = 0; ; attempt++) {
    const ephemeralSecret = draw(attempt);
    const share = makeShare(formSecret, context, ephemeralSecret);
    if (share !== null) return { ephemeralSecret, share };
  }
}

/**
 * An issuer session's ephemeral secret from the invite's seed and the acceptor's hello, so a reply
 * re-made after a crash is the same reply.
 */
export function issuerEphemeral(
  seed: Uint8Array,
  sessionId: Uint8Array,
  acceptorShare: Uint8Array,
  attempt: number,
): Uint8Array {
  return macSha256(
    seed,
    concatBytes(utf8(LABELS.issuerEphemeral), sessionId, acceptorShare, Uint8Array.of(attempt)),
  );
}

/**
 * The 32-byte session secret both sides reach if, and only if, they share the form's secret and
 * saw the same shares and context. Null when the peer's share is invalid (low order, not a group
 * element, or the neutral element): the session must abort.
 */
export function deriveSessionSecret(
  formSecret: FormSecret,
  context: SessionContext,
  role: HandshakeRole,
  ephemeralSecret: Uint8Array,
  ownShare: Uint8Array,
  peerShare: Uint8Array,
): Uint8Array | null {
  const shares =
    role === 'acceptor'
      ? { acceptor: ownShare, issuer: peerShare }
      : { acceptor: peerShare, issuer: ownShare };
  if (formSecret.form === 'url') {
    const own = X25519KeyPair.fromSecret(ephemeralSecret);
    const shared = own.sharedSecret(peerShare);
    if (shared === null) return null;
    const info = concatBytes(
      utf8(LABELS.urlSession),
      lvCat(context.inviteId, context.mailboxId, context.sessionId, shares.acceptor, shares.issuer),
    );
    return hkdfExpand(hkdfExtract(shared, formSecret.secret), info, 32);
  }
  const scalar = cpaceScalar(ephemeralSecret);
  if (scalar === null) return null;
  const inputs = codeCpaceInputs(formSecret.code, context);
  const isk = cpaceFinish(
    inputs,
    role === 'acceptor' ? 'initiator' : 'responder',
    scalar,
    ownShare,
    peerShare,
  );
  if (isk === null) return null;
  return hkdfExpandLabel(hkdfExtract(isk, new Uint8Array(32)), LABELS.codeSession, 32);
}
