import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { type DirectionKey, openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { PairlinkError } from '../errors.js';
import { type Card, verifyCard } from '../identity/card.js';
import type { InviteMode } from '../invite/invite-policy.js';
import { buildInboxFrame, type InboxExtension, openInboxFrame } from '../notice/inbox.js';
import type { StepContext } from './effects.js';
import {
  type AbortReason,
  decodeAbortReason,
  decodeConfirmBody,
  decodeReplyBody,
  decodeWelcomeBody,
  encodeAbortReason,
  encodeConfirmBody,
  encodeFrame,
  encodeReplyBody,
  encodeWelcomeBody,
  FRAME_TYPE,
} from './frames.js';
import type { HandshakeRole, SessionContext, SessionKeys } from './session-keys.js';
import {
  checkConfirmationTag,
  confirmationTag,
  type InviteForm,
  transcriptAfterConfirm,
  transcriptAfterReply,
  transcriptSignatureMessage,
  verifyTranscriptSignature,
} from './transcript.js';

/**
 * The handshake's messages, for both roles: each builder derives the transcript, signs, tags,
 * seals and encodes one frame; each opener undoes that and runs every check, so a machine deals in
 * verified values and stable failures and never touches a key, a tag or a signature itself
 * (docs/PROTOCOL.md §6.1–6.3; the inbox frame, §11.1, through src/notice/inbox.ts). The hello and
 * the clear abort carry no secret and are built by the machines with `encodeFrame` directly.
 */

/** The side that signs and seals: its identity and its own signed card. */
export type Signer = Pick<StepContext, 'identity' | 'card'>;

/**
 * An opened message, or why not: `unopened` (it does not open under this session's key, so it is
 * not from the other side and is ignored) or BAD_SIGNATURE (it is, and it fails its checks).
 */
export type Opened<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly failure: OpenFailure };
export type OpenFailure = 'unopened' | 'BAD_SIGNATURE';

const unopened = { ok: false, failure: 'unopened' } as const;
const badSignature = { ok: false, failure: 'BAD_SIGNATURE' } as const;

/** The key of the direction `sender` seals with (each side opens with the other's). */
function directionFrom(keys: SessionKeys, sender: HandshakeRole): DirectionKey {
  return sender === 'issuer' ? keys.issuerToAcceptor : keys.acceptorToIssuer;
}

/** What goes into the issuer's reply besides its keys. */
export interface ReplyInput {
  readonly form: InviteForm;
  readonly context: SessionContext;
  readonly acceptorShare: Uint8Array;
  readonly share: Uint8Array;
  readonly mode: InviteMode;
  readonly requireSas: boolean;
}

/** The issuer's reply, and th1, the transcript it commits to. */
export function buildReply(
  keys: SessionKeys,
  input: ReplyInput,
  me: Signer,
): { frame: Uint8Array; transcript: Uint8Array } {
  const th1 = transcriptAfterReply(input.form, input.context, input.acceptorShare, input.share, me.card);
  const body = encodeReplyBody({
    mode: input.mode,
    requireSas: input.requireSas,
    card: me.card,
    signature: me.identity.signing.sign(transcriptSignatureMessage('transcriptSigIssuerReply', th1)),
    tag: confirmationTag(keys.confirmIssuer, th1),
  });
  const frame = encodeFrame({
    type: 'reply',
    sessionId: input.context.sessionId,
    share: input.share,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.reply, body),
  });
  return { frame, transcript: th1 };
}

/** What the acceptor checks a reply against. */
export interface ReplyCheck {
  readonly form: InviteForm;
  readonly context: SessionContext;
  readonly acceptorShare: Uint8Array;
  readonly issuerShare: Uint8Array;
  /** A link's signer: the reply's card must carry this key. Absent for a code. */
  readonly issuerKey?: Uint8Array;
}

/** Opens a reply: the issuer's verified card, th1 and the policy it states. */
export function openReply(
  keys: SessionKeys,
  check: ReplyCheck,
  sealed: Uint8Array,
): Opened<{ issuer: Card; transcript: Uint8Array; mode: InviteMode; requireSas: boolean }> {
  let body: ReturnType<typeof decodeReplyBody>;
  try {
    body = decodeReplyBody(openFrame(keys.issuerToAcceptor, FRAME_TYPE.reply, sealed));
  } catch {
    return unopened;
  }
  let issuer: Card;
  try {
    issuer = verifyCard(body.card);
  } catch {
    return badSignature;
  }
  const th1 = transcriptAfterReply(
    check.form,
    check.context,
    check.acceptorShare,
    check.issuerShare,
    issuer.bytes,
  );
  const keyMatchesInvite =
    check.issuerKey === undefined || equalBytesConstantTime(issuer.signingKey, check.issuerKey);
  if (
    !keyMatchesInvite ||
    !checkConfirmationTag(keys.confirmIssuer, th1, body.tag) ||
    !verifyTranscriptSignature('transcriptSigIssuerReply', issuer.signingKey, th1, body.signature)
  ) {
    return badSignature;
  }
  return { ok: true, issuer, transcript: th1, mode: body.mode, requireSas: body.requireSas };
}

/** The acceptor's confirm over th1, and th2, the whole transcript. */
export function buildConfirm(
  keys: SessionKeys,
  sessionId: Uint8Array,
  th1: Uint8Array,
  me: Signer,
): { frame: Uint8Array; transcript: Uint8Array } {
  const th2 = transcriptAfterConfirm(th1, me.card);
  const body = encodeConfirmBody({
    card: me.card,
    signature: me.identity.signing.sign(transcriptSignatureMessage('transcriptSigAcceptor', th2)),
    tag: confirmationTag(keys.confirmAcceptor, th2),
  });
  const frame = encodeFrame({
    type: 'confirm',
    sessionId,
    sealed: sealFrame(keys.acceptorToIssuer, FRAME_TYPE.confirm, body),
  });
  return { frame, transcript: th2 };
}

/** Opens a confirm: the acceptor's verified card and th2. */
export function openConfirm(
  keys: SessionKeys,
  th1: Uint8Array,
  sealed: Uint8Array,
): Opened<{ acceptor: Card; transcript: Uint8Array }> {
  let body: ReturnType<typeof decodeConfirmBody>;
  try {
    body = decodeConfirmBody(openFrame(keys.acceptorToIssuer, FRAME_TYPE.confirm, sealed));
  } catch {
    return unopened;
  }
  let acceptor: Card;
  try {
    acceptor = verifyCard(body.card);
  } catch {
    return badSignature;
  }
  const th2 = transcriptAfterConfirm(th1, acceptor.bytes);
  if (
    !checkConfirmationTag(keys.confirmAcceptor, th2, body.tag) ||
    !verifyTranscriptSignature('transcriptSigAcceptor', acceptor.signingKey, th2, body.signature)
  ) {
    return badSignature;
  }
  return { ok: true, acceptor, transcript: th2 };
}

/** The issuer's welcome: its signature over th2 and, in device mode, the identity bundle. */
export function buildWelcome(
  keys: SessionKeys,
  sessionId: Uint8Array,
  th2: Uint8Array,
  bundle: Uint8Array,
  me: Signer,
): Uint8Array {
  const body = encodeWelcomeBody({
    signature: me.identity.signing.sign(transcriptSignatureMessage('transcriptSigIssuerWelcome', th2)),
    bundle,
  });
  return encodeFrame({
    type: 'welcome',
    sessionId,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.welcome, body),
  });
}

/** Opens a welcome from `issuer` (the card its reply carried): the bundle, empty in peer mode. */
export function openWelcome(
  keys: SessionKeys,
  th2: Uint8Array,
  issuer: Card,
  sealed: Uint8Array,
): Opened<{ bundle: Uint8Array }> {
  let body: ReturnType<typeof decodeWelcomeBody>;
  try {
    body = decodeWelcomeBody(openFrame(keys.issuerToAcceptor, FRAME_TYPE.welcome, sealed));
  } catch {
    return unopened;
  }
  if (!verifyTranscriptSignature('transcriptSigIssuerWelcome', issuer.signingKey, th2, body.signature))
    return badSignature;
  return { ok: true, bundle: body.bundle };
}

/** The acceptor's ack: a sealed empty body, which only the holder of the session key can make. */
export function buildAck(keys: SessionKeys, sessionId: Uint8Array): Uint8Array {
  return encodeFrame({
    type: 'ack',
    sessionId,
    sealed: sealFrame(keys.acceptorToIssuer, FRAME_TYPE.ack, new Uint8Array(0)),
  });
}

/** True when an ack opens under this session's key, so it is from the session's acceptor. */
export function openAck(keys: SessionKeys, sealed: Uint8Array): boolean {
  try {
    openFrame(keys.acceptorToIssuer, FRAME_TYPE.ack, sealed);
    return true;
  } catch {
    return false;
  }
}

/**
 * An abort from `sender`: sealed under the session's key when `keys` are given (the relay cannot
 * forge it), else in the clear (before the acceptor holds a key, nothing else can reach it).
 */
export function buildAbort(
  sender: HandshakeRole,
  sessionId: Uint8Array,
  reason: AbortReason,
  keys?: SessionKeys,
): Uint8Array {
  if (!keys) return encodeFrame({ type: 'abort', sessionId, reason });
  return encodeFrame({
    type: 'sealedAbort',
    sessionId,
    sealed: sealFrame(directionFrom(keys, sender), FRAME_TYPE.sealedAbort, encodeAbortReason(reason)),
  });
}

/**
 * The reason in a sealed abort from `sender`, or null when it does not open under this session's
 * key (so it is not from the other side) or carries no known reason.
 */
export function openSealedAbort(
  keys: SessionKeys,
  sender: HandshakeRole,
  sealed: Uint8Array,
): AbortReason | null {
  try {
    return decodeAbortReason(openFrame(directionFrom(keys, sender), FRAME_TYPE.sealedAbort, sealed));
  } catch {
    return null;
  }
}

/**
 * `sender`'s inbox frame (§11.1): its inbox and next-key commitment, sealed under its direction's
 * key. Each direction seals one per session: a repost is these same bytes, kept in the state.
 */
export function buildInbox(
  keys: SessionKeys,
  sender: HandshakeRole,
  sessionId: Uint8Array,
  extension: InboxExtension,
): Uint8Array {
  return buildInboxFrame(directionFrom(keys, sender), sessionId, extension);
}

/**
 * The inbox and commitment in an inbox frame from `sender`, or null when it is not one: it does
 * not open under this session's key (the relay, or our own frame reflected back), it is too large,
 * or it opens and holds no valid extension. Null is ignored, never a failure: a relay can always
 * drop the frame instead, and a pairing without an inbox is a pairing as before.
 */
export function openInbox(
  keys: SessionKeys,
  sender: HandshakeRole,
  sessionId: Uint8Array,
  frame: Uint8Array,
): InboxExtension | null {
  try {
    return openInboxFrame(directionFrom(keys, sender), sessionId, frame);
  } catch (error) {
    if (error instanceof PairlinkError) return null;
    throw error;
  }
}
