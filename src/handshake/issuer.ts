import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { macSha256 } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import { concatBytes, utf8 } from '../encoding/binary.js';
import { toHex } from '../encoding/hex.js';
import type { ErrorCode } from '../errors.js';
import { type Card, readVerifiedCard, verifyCard } from '../identity/card.js';
import { type InviteMode, MAX_FAILED_CODE_ATTEMPTS } from '../invite/invite-policy.js';
import type { ShortCode } from '../invite/short-code.js';
import { codeInviteId } from '../invite/short-code.js';
import {
  ackDeadline,
  completeBy,
  EVICTABLE_AFTER_SECONDS,
  ISSUER_SESSION_TIMEOUT_SECONDS,
  retryDelaySeconds,
} from './deadlines.js';
import { encodeDeviceBundle } from './device-bundle.js';
import {
  type Effect,
  type HostEvent,
  isPermanentRelayFailure,
  type Step,
  type StepContext,
} from './effects.js';
import {
  ABORT_REASONS,
  type AbortReason,
  decodeConfirmBody,
  decodeFrame,
  encodeAbortReason,
  encodeFrame,
  encodeReplyBody,
  encodeWelcomeBody,
  FRAME_TYPE,
  type Frame,
  type MailboxAddress,
  openSealedAbort,
} from './frames.js';
import { deriveSas } from './sas.js';
import {
  deriveSessionKeys,
  deriveSessionSecret,
  type FormSecret,
  makeShare,
  type SessionContext,
} from './session-keys.js';
import {
  checkConfirmationTag,
  confirmationTag,
  transcriptAfterConfirm,
  transcriptAfterReply,
  transcriptSignatureMessage,
  verifyTranscriptSignature,
} from './transcript.js';

/** How many acceptor sessions one invite runs at once (before key confirmation). */
export const MAX_CONCURRENT_SESSIONS = 16;

export type InviteStatus = 'pending' | 'used' | 'expired' | 'cancelled' | 'failed';
/**
 * `awaitingAck`: the acceptor is pinned (unconfirmed) and welcomed; `completed`: its ack arrived,
 * so both sides hold the pin; `unconfirmed`: the ack never came before the deadline, and the pin
 * stays marked unconfirmed; `failed`: nothing is pinned.
 */
export type IssuerSessionPhase =
  | 'awaitingConfirm'
  | 'awaitingSas'
  | 'awaitingAck'
  | 'completed'
  | 'unconfirmed'
  | 'failed';

/** One acceptor's run against an invite. */
export interface IssuerSession {
  readonly phase: IssuerSessionPhase;
  readonly sessionId: Uint8Array;
  readonly replyTo: MailboxAddress;
  readonly acceptorShare: Uint8Array;
  readonly ephemeralSecret: Uint8Array;
  readonly share: Uint8Array;
  readonly sessionSecret: Uint8Array;
  readonly transcript: Uint8Array;
  readonly replyFrame: Uint8Array;
  readonly sasConfirmed: boolean;
  readonly startedAt: number;
  readonly acceptorCard?: Uint8Array;
  /** The welcome, or the sealed abort that ended the session: resent when a confirm repeats. */
  readonly welcomeFrame?: Uint8Array;
  readonly finalFrame?: Uint8Array;
  /** While awaiting the ack: when to resend the welcome after a failed post, and how often so far. */
  readonly retryAt?: number;
  readonly retries?: number;
  /** While awaiting the ack: when to read the mailbox again (a push of the ack may have been lost). */
  readonly resyncAt?: number;
  readonly resyncs?: number;
  readonly failure?: ErrorCode;
}

/** An issued invite and its sessions (persistable; secrets included). */
export interface IssuerState {
  readonly role: 'issuer';
  readonly status: InviteStatus;
  readonly formSecret: FormSecret;
  readonly inviteId: Uint8Array;
  readonly mailboxId: Uint8Array;
  readonly mode: InviteMode;
  readonly requireSas: boolean;
  readonly expiresAt: number;
  readonly usesLeft: number;
  readonly failedAttempts: number;
  /**
   * Why a failed invite ended: INVITE_BURNED (MAX_FAILED_CODE_ATTEMPTS unproven code sessions) or
   * INVITE_NOT_FOUND (the relay lost a code invite's nameplate). Absent in states saved before it.
   */
  readonly failure?: ErrorCode;
  readonly pairedDids: readonly string[];
  /** Keyed by hex session id. */
  readonly sessions: Readonly<Record<string, IssuerSession>>;
  /** The invite's mailbox was closed: it is kept open after the invite ends until every ack is in. */
  readonly mailboxClosed?: boolean;
  /** Peers the operator unpaired after this invite was minted: refused with PEER_REMOVED. */
  readonly refusedDids?: readonly string[];
  /**
   * 32 random bytes drawn at minting: a session's ephemeral secret is derived from it and the
   * acceptor's hello, so a reply re-made after a crash is the same reply (Step.replayable). Wiped
   * with the invite's secret when the invite ends. Absent in states saved by older versions.
   */
  readonly ephemeralSeed?: Uint8Array;
}

export type IssuerEvent =
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'sasConfirmed'; readonly sessionId: Uint8Array }
  | { readonly type: 'sasRejected'; readonly sessionId: Uint8Array }
  | { readonly type: 'cancelRequested' }
  | { readonly type: 'clockTicked' }
  /** The operator unpaired `did` (the host removed its pin in the same save). */
  | { readonly type: 'peerRemoved'; readonly did: string }
  | HostEvent;

/** Extra input the issuer needs only in device mode: the identity secrets to hand over. */
export interface IssuerStepContext extends StepContext {
  readonly deviceBundle?: () => { signingSeed: Uint8Array; agreementSecret: Uint8Array; name: string };
}

/** The initial state of a URL invite (inviteId and mailbox come from the signed invite). */
export function newUrlIssuer(invite: {
  secret: Uint8Array;
  inviteId: Uint8Array;
  mailboxId: Uint8Array;
  mode: InviteMode;
  requireSas: boolean;
  expiresAt: number;
  uses: number;
}): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'url', secret: invite.secret },
    inviteId: invite.inviteId,
    mailboxId: invite.mailboxId,
    mode: invite.mode,
    requireSas: invite.requireSas,
    expiresAt: invite.expiresAt,
    usesLeft: invite.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
    mailboxClosed: false,
  };
}

/** The initial state of a code invite, once the relay has given the mailbox a nameplate. */
export function newCodeIssuer(
  code: ShortCode,
  mailboxId: Uint8Array,
  policy: { mode: InviteMode; requireSas: boolean; expiresAt: number; uses: number },
): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'code', code },
    inviteId: codeInviteId(code.nameplate, mailboxId),
    mailboxId,
    mode: policy.mode,
    requireSas: policy.requireSas,
    expiresAt: policy.expiresAt,
    usesLeft: policy.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
    mailboxClosed: false,
  };
}

const unchanged = (state: IssuerState): Step<IssuerState> => ({ state, effects: [] });

/**
 * The operator unpaired `did`. An invite still pending (minted before the unpair) refuses it from
 * now on; a session that pinned it and still waits for its ack (or gave up waiting) ends here, so an
 * ack the relay releases later cannot announce a pairing the operator has undone: events and the
 * history never contradict the pins.
 */
function onPeerRemoved(state: IssuerState, did: string): Step<IssuerState> {
  let next =
    state.status === 'pending' && !state.refusedDids?.includes(did)
      ? { ...state, refusedDids: [...(state.refusedDids ?? []), did] }
      : state;
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions)) {
    if (session.phase !== 'awaitingAck' && session.phase !== 'unconfirmed') continue;
    if (readVerifiedCard(session.acceptorCard!).did !== did) continue;
    next = withSession(next, { ...session, phase: 'failed', failure: 'PEER_REMOVED' });
    effects.push({ type: 'progress', status: 'failed', sessionId: session.sessionId, code: 'PEER_REMOVED' });
  }
  if (next === state) return unchanged(state);
  const closed = closeIfDone(next);
  return { state: closed.state, effects: [...effects, ...closed.effects] };
}

/** Sessions before key confirmation finished: they hold one of the invite's slots. */
const isOpen = (s: IssuerSession) => s.phase === 'awaitingConfirm' || s.phase === 'awaitingSas';
const awaitsAck = (s: IssuerSession) => s.phase === 'awaitingAck';

/** True once the invite can change no more: ended, and every pin it made confirmed or timed out. */
export function isIssuerFinished(state: IssuerState): boolean {
  return state.status !== 'pending' && !Object.values(state.sessions).some(awaitsAck);
}

function abortFrame(sessionId: Uint8Array, reason: AbortReason): Uint8Array {
  return encodeFrame({ type: 'abort', sessionId, reason });
}

function sealedAbortFrame(session: IssuerSession, reason: AbortReason): Uint8Array {
  return encodeFrame({
    type: 'sealedAbort',
    sessionId: session.sessionId,
    sealed: sealFrame(
      deriveSessionKeys(session.sessionSecret).issuerToAcceptor,
      FRAME_TYPE.sealedAbort,
      encodeAbortReason(reason),
    ),
  });
}

function withSession(state: IssuerState, session: IssuerSession): IssuerState {
  return { ...state, sessions: { ...state.sessions, [toHex(session.sessionId)]: session } };
}

function sessionOfFrame(state: IssuerState, frame: Uint8Array): IssuerSession | undefined {
  try {
    return state.sessions[toHex(decodeFrame(frame).sessionId)];
  } catch {
    return undefined;
  }
}

/** Advances the issuer by one event. Never throws for anything that arrives from the network. */
export function stepIssuer(
  state: IssuerState,
  event: IssuerEvent,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  switch (event.type) {
    case 'clockTicked':
      return onTick(state, ctx);
    case 'resumed':
      return onResumed(state);
    case 'frameDelivered':
      return unchanged(state);
    case 'mailboxLost':
      return onMailboxLost(state);
    case 'relayFailed':
      return onMailboxLost(state, event.code);
    case 'effectFailed':
      return onEffectFailed(state, event, ctx);
    case 'peerRemoved':
      return onPeerRemoved(state, event.did);
    case 'cancelRequested':
      return state.status === 'pending' ? finish(state, 'cancelled', 'INVITE_CANCELLED') : unchanged(state);
    case 'sasConfirmed':
    case 'sasRejected': {
      const session = state.sessions[toHex(event.sessionId)];
      if (!session || !isOpen(session)) return unchanged(state);
      if (event.type === 'sasRejected') return failSession(state, session, 'SAS_REJECTED', 'SAS_REJECTED');
      const confirmed = { ...session, sasConfirmed: true };
      return session.phase === 'awaitingSas'
        ? complete(state, confirmed, ctx)
        : unchanged(withSession(state, confirmed));
    }
    case 'frameReceived': {
      let frame: Frame;
      try {
        frame = decodeFrame(event.frame);
      } catch {
        return countJunk(unchanged(state));
      }
      if (frame.type === 'hello') return onHello(state, frame, ctx);
      const session = state.sessions[toHex(frame.sessionId)];
      if (!session) return countJunk(unchanged(state));
      switch (frame.type) {
        case 'confirm':
          return onConfirm(state, session, frame, ctx);
        case 'ack':
          return onAck(state, session, frame);
        case 'sealedAbort':
          return onSealedAbort(state, session, frame);
        case 'abort':
          return onAbort(state, session, frame.reason);
        default:
          return unchanged(state); // reply/welcome reflected into our mailbox: ignore
      }
    }
  }
}

function statusReason(status: InviteStatus, now: number, expiresAt: number): AbortReason | null {
  if (status === 'used' || status === 'failed') return 'INVITE_USED';
  if (status === 'cancelled') return 'INVITE_CANCELLED';
  if (status === 'expired' || now >= expiresAt) return 'INVITE_EXPIRED';
  return null;
}

function asAbortReason(code: ErrorCode | undefined): AbortReason {
  return (ABORT_REASONS as readonly string[]).includes(code ?? '') ? (code as AbortReason) : 'PROTOCOL_ERROR';
}

function onHello(
  state: IssuerState,
  frame: Extract<Frame, { type: 'hello' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  const existing = state.sessions[toHex(frame.sessionId)];
  if (existing) {
    if (!equalBytesConstantTime(existing.acceptorShare, frame.share)) return unchanged(state);
    // A repeated hello means the acceptor never saw our reply: resend it, or, for a session
    // that has ended, say so in the clear (the acceptor holds no key to open anything else yet).
    if (existing.phase === 'failed')
      return {
        state,
        effects: [
          {
            type: 'send',
            to: existing.replyTo,
            frame: abortFrame(frame.sessionId, asAbortReason(existing.failure)),
          },
        ],
      };
    return existing.replyFrame.length > 0
      ? { state, effects: [{ type: 'send', to: existing.replyTo, frame: existing.replyFrame }] }
      : unchanged(state);
  }
  const refuse = (reason: AbortReason): Step<IssuerState> => ({
    state,
    effects: [{ type: 'send', to: frame.replyTo, frame: abortFrame(frame.sessionId, reason) }],
  });
  const reason = statusReason(state.status, ctx.now, state.expiresAt);
  if (reason) return refuse(reason);
  if (frame.form !== state.formSecret.form) return countJunk(refuse('PROTOCOL_ERROR'));
  let current = state;
  const evicted: Effect[] = [];
  const open = Object.values(state.sessions).filter(isOpen);
  if (open.length >= MAX_CONCURRENT_SESSIONS) {
    // Full: make room by ending the oldest session that has waited long for its confirm.
    const idle = open
      .filter((s) => s.phase === 'awaitingConfirm' && ctx.now - s.startedAt >= EVICTABLE_AFTER_SECONDS)
      .sort((a, b) => a.startedAt - b.startedAt)[0];
    if (!idle) return refuse('CROWDED');
    const ended = countGuess(failSession(state, idle, 'CROWDED', 'CROWDED'));
    if (ended.state.status !== 'pending')
      return { state: ended.state, effects: [...ended.effects, ...refuse('INVITE_USED').effects] };
    current = ended.state;
    evicted.push(...ended.effects);
  }

  const context: SessionContext = {
    inviteId: state.inviteId,
    mailboxId: state.mailboxId,
    sessionId: frame.sessionId,
  };
  let ephemeralSecret: Uint8Array;
  let share: Uint8Array | null;
  let attempt = 0;
  const seeded = state.ephemeralSeed?.length === 32;
  do {
    ephemeralSecret = seeded
      ? sessionEphemeral(state.ephemeralSeed!, frame.sessionId, frame.share, attempt++)
      : ctx.random(32);
    share = makeShare(state.formSecret, context, ephemeralSecret);
  } while (share === null);
  const secret = deriveSessionSecret(
    state.formSecret,
    context,
    'issuer',
    ephemeralSecret,
    share,
    frame.share,
  );
  if (secret === null) return countJunk(refuse('PROTOCOL_ERROR'));
  const keys = deriveSessionKeys(secret);
  const th1 = transcriptAfterReply(state.formSecret.form, context, frame.share, share, ctx.card);
  const body = encodeReplyBody({
    mode: state.mode,
    requireSas: state.requireSas,
    card: ctx.card,
    signature: ctx.identity.signing.sign(transcriptSignatureMessage('transcriptSigIssuerReply', th1)),
    tag: confirmationTag(keys.confirmIssuer, th1),
  });
  const replyFrame = encodeFrame({
    type: 'reply',
    sessionId: frame.sessionId,
    share,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.reply, body),
  });
  const session: IssuerSession = {
    phase: 'awaitingConfirm',
    sessionId: frame.sessionId,
    replyTo: frame.replyTo,
    acceptorShare: frame.share,
    ephemeralSecret,
    share,
    sessionSecret: secret,
    transcript: th1,
    replyFrame,
    sasConfirmed: false,
    startedAt: ctx.now,
  };
  return {
    state: withSession(current, session),
    // Seeded: the same hello makes the same reply, so it may leave before this step is saved.
    replayable: seeded,
    effects: [
      ...evicted,
      { type: 'send', to: frame.replyTo, frame: replyFrame },
      { type: 'sasReady', sessionId: frame.sessionId, sas: deriveSas(keys.sas) },
      { type: 'progress', status: 'accepted', sessionId: frame.sessionId },
    ],
  };
}

/** A session's ephemeral secret from the invite's seed and the hello (attempt: a zero CPace scalar, 2^-252). */
function sessionEphemeral(
  seed: Uint8Array,
  sessionId: Uint8Array,
  acceptorShare: Uint8Array,
  attempt: number,
) {
  return macSha256(
    seed,
    concatBytes(utf8(LABELS.issuerEphemeral), sessionId, acceptorShare, Uint8Array.of(attempt)),
  );
}

function onConfirm(
  state: IssuerState,
  session: IssuerSession,
  frame: Extract<Frame, { type: 'confirm' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  if (session.phase !== 'awaitingConfirm') {
    // A repeated confirm: our welcome (or our sealed abort) may have been lost; resend the same bytes.
    const last = session.welcomeFrame ?? session.finalFrame;
    return last && session.phase !== 'awaitingSas'
      ? { state, effects: [{ type: 'send', to: session.replyTo, frame: last }] }
      : unchanged(state);
  }
  const keys = deriveSessionKeys(session.sessionSecret);
  let body: ReturnType<typeof decodeConfirmBody>;
  try {
    body = decodeConfirmBody(openFrame(keys.acceptorToIssuer, FRAME_TYPE.confirm, frame.sealed));
  } catch {
    return unchanged(state); // only the acceptor of this session holds the key: a forgery
  }
  let acceptor: Card;
  try {
    acceptor = verifyCard(body.card);
  } catch {
    return failSession(state, session, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  const th2 = transcriptAfterConfirm(session.transcript, acceptor.bytes);
  if (
    !checkConfirmationTag(keys.confirmAcceptor, th2, body.tag) ||
    !verifyTranscriptSignature('transcriptSigAcceptor', acceptor.signingKey, th2, body.signature)
  ) {
    return failSession(state, session, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
  }
  if (equalBytesConstantTime(acceptor.signingKey, ctx.identity.signing.publicKey)) {
    return failSession(state, session, 'SELF_PAIRING', 'SELF_PAIRING');
  }
  if (state.refusedDids?.includes(acceptor.did)) {
    return failSession(state, session, 'PEER_REMOVED', 'PEER_REMOVED');
  }
  const verified: IssuerSession = { ...session, transcript: th2, acceptorCard: acceptor.bytes };
  if (state.requireSas && !session.sasConfirmed) {
    return {
      state: withSession(state, { ...verified, phase: 'awaitingSas' }),
      effects: [{ type: 'progress', status: 'sas', sessionId: session.sessionId, peer: acceptor }],
    };
  }
  return complete(state, verified, ctx);
}

/**
 * Key confirmation done (and SAS, where required): consume a use, pin the acceptor (unconfirmed
 * until its ack), send the welcome. The pin and the new state are saved before the welcome goes.
 */
function complete(state: IssuerState, session: IssuerSession, ctx: IssuerStepContext): Step<IssuerState> {
  const acceptor = readVerifiedCard(session.acceptorCard!);
  const repeat = state.pairedDids.includes(acceptor.did);
  const reason = statusReason(state.status, ctx.now, completeBy(state.expiresAt));
  if (reason) return failSession(state, session, reason, reason);
  if (state.refusedDids?.includes(acceptor.did))
    return failSession(state, session, 'PEER_REMOVED', 'PEER_REMOVED');
  // Every completed session is a use, a repeat acceptor's included: uses bound how many pins
  // one invite can make, whoever asks (docs/SECURITY.md §Invites).
  if (state.usesLeft === 0) return failSession(state, session, 'INVITE_USED', 'INVITE_USED');
  const keys = deriveSessionKeys(session.sessionSecret);
  const bundle =
    state.mode === 'device' && ctx.deviceBundle ? encodeDeviceBundle(ctx.deviceBundle()) : new Uint8Array();
  if (state.mode === 'device' && bundle.length === 0)
    throw new Error('device invite completed without a device bundle');
  const body = encodeWelcomeBody({
    signature: ctx.identity.signing.sign(
      transcriptSignatureMessage('transcriptSigIssuerWelcome', session.transcript),
    ),
    bundle,
  });
  const welcomeFrame = encodeFrame({
    type: 'welcome',
    sessionId: session.sessionId,
    sealed: sealFrame(keys.issuerToAcceptor, FRAME_TYPE.welcome, body),
  });
  const usesLeft = state.usesLeft - 1;
  const next: IssuerState = withSession(
    { ...state, usesLeft, pairedDids: repeat ? state.pairedDids : [...state.pairedDids, acceptor.did] },
    {
      ...session,
      phase: 'awaitingAck',
      welcomeFrame,
      retries: 0,
      resyncs: 0,
      resyncAt: ctx.now + retryDelaySeconds(0),
    },
  );
  const effects: Effect[] = [
    { type: 'pin', sessionId: session.sessionId, peer: acceptor, mode: state.mode, confirmed: false },
    { type: 'send', to: session.replyTo, frame: welcomeFrame },
  ];
  if (usesLeft > 0) return { state: next, effects };
  const done = finish(next, 'used', 'INVITE_USED');
  return { state: done.state, effects: [...effects, ...done.effects] };
}

/** The acceptor pinned us too: the pin is confirmed and this session is done. */
function onAck(
  state: IssuerState,
  session: IssuerSession,
  frame: Extract<Frame, { type: 'ack' }>,
): Step<IssuerState> {
  if (session.phase !== 'awaitingAck' && session.phase !== 'unconfirmed') return unchanged(state);
  try {
    openFrame(deriveSessionKeys(session.sessionSecret).acceptorToIssuer, FRAME_TYPE.ack, frame.sealed);
  } catch {
    return unchanged(state); // only the acceptor of this session can make one
  }
  const acceptor = readVerifiedCard(session.acceptorCard!);
  return endAwaitedSession(state, { ...session, phase: 'completed' }, [
    { type: 'confirmPin', sessionId: session.sessionId, did: acceptor.did },
    { type: 'progress', status: 'paired', sessionId: session.sessionId, peer: acceptor },
  ]);
}

/** A session that awaited its ack ends as `ended`; the mailbox closes if it was the last one due. */
function endAwaitedSession(state: IssuerState, ended: IssuerSession, effects: Effect[]): Step<IssuerState> {
  const closed = closeIfDone(withSession(state, ended));
  return { state: closed.state, effects: [...effects, ...closed.effects] };
}

/** The acceptor ended the session after the reply (sealed, so it is really the acceptor). */
function onSealedAbort(
  state: IssuerState,
  session: IssuerSession,
  frame: Extract<Frame, { type: 'sealedAbort' }>,
): Step<IssuerState> {
  if (!isOpen(session) && !awaitsAck(session)) return unchanged(state);
  const reason = openSealedAbort(deriveSessionKeys(session.sessionSecret).acceptorToIssuer, frame.sealed);
  if (reason === null) return unchanged(state);
  if (isOpen(session)) return failSession(state, session, reason, null);
  // It gave up before our welcome reached it: it pinned nothing, so neither do we.
  const acceptor = readVerifiedCard(session.acceptorCard!);
  return endAwaitedSession(state, { ...session, phase: 'failed', failure: reason }, [
    { type: 'unpin', sessionId: session.sessionId, did: acceptor.did },
    { type: 'progress', status: 'failed', sessionId: session.sessionId, code: reason },
  ]);
}

/** A clear abort: anyone could have sent it, so it only ends sessions that have pinned nothing. */
function onAbort(state: IssuerState, session: IssuerSession, reason: AbortReason): Step<IssuerState> {
  if (!isOpen(session)) return unchanged(state);
  const failed = failSession(state, session, reason, null);
  return session.phase === 'awaitingConfirm' ? countGuess(failed) : failed;
}

/**
 * A code session ended before its acceptor proved the code (with a valid confirm or a sealed
 * abort): whoever sent that hello learnt from our reply whether its guess was right, whether it
 * then said WRONG_CODE, said nothing (timeout) or was evicted. Each such session is one online
 * guess; after MAX_FAILED_CODE_ATTEMPTS the invite burns, so guessing cannot go on
 * (docs/SECURITY.md §Short codes).
 */
function countGuess(step: Step<IssuerState>): Step<IssuerState> {
  if (step.state.formSecret.form !== 'code' || step.state.status !== 'pending') return step;
  const attempts = step.state.failedAttempts + 1;
  const counted = { ...step.state, failedAttempts: attempts };
  if (attempts < MAX_FAILED_CODE_ATTEMPTS) return { state: counted, effects: step.effects };
  const burned = finish(counted, 'failed', 'INVITE_USED', 'INVITE_BURNED');
  return { state: burned.state, effects: [...step.effects, ...burned.effects] };
}

/**
 * A message in a code invite's mailbox that no acceptor would send: not a frame, a hello this
 * invite cannot answer (the other form, an invalid CPace share), or a frame of a session that does
 * not exist. Its sender's claim took one of the nameplate's slots at the relay, which cannot tell
 * junk from a hello, so it is a failed attempt under the same burn rule as a wrong code, and the
 * operator sees it (docs/SECURITY.md §Short codes). Frames naming a known session are not counted:
 * only the relay, or that session's own acceptor, knows its id.
 */
function countJunk(step: Step<IssuerState>): Step<IssuerState> {
  if (step.state.formSecret.form !== 'code' || step.state.status !== 'pending') return step;
  const seen: Effect = { type: 'progress', status: 'failed', code: 'PROTOCOL_ERROR' };
  return countGuess({ state: step.state, effects: [...step.effects, seen] });
}

/**
 * Ends a session that has pinned nothing. The acceptor is told with a sealed abort (which it can
 * open once it has our reply, and which the relay cannot forge) and, while it may still be waiting
 * for the reply, in the clear as well.
 */
function failSession(
  state: IssuerState,
  session: IssuerSession,
  code: ErrorCode,
  notify: AbortReason | null,
): Step<IssuerState> {
  const effects: Effect[] = [];
  let finalFrame: Uint8Array | undefined;
  if (notify) {
    if (session.phase === 'awaitingConfirm')
      effects.push({ type: 'send', to: session.replyTo, frame: abortFrame(session.sessionId, notify) });
    finalFrame = sealedAbortFrame(session, notify);
    effects.push({ type: 'send', to: session.replyTo, frame: finalFrame });
  }
  effects.push({ type: 'progress', status: 'failed', sessionId: session.sessionId, code });
  const failed: IssuerSession = {
    ...session,
    phase: 'failed',
    failure: code,
    ...(finalFrame ? { finalFrame } : {}),
  };
  return { state: withSession(state, failed), effects };
}

/** Ends the invite: aborts open sessions, reports the final status, closes the mailbox once no ack is due. */
function finish(
  state: IssuerState,
  status: Exclude<InviteStatus, 'pending'>,
  sessionReason: AbortReason,
  code?: ErrorCode,
): Step<IssuerState> {
  let next: IssuerState = { ...state, status, ...(status === 'failed' && code ? { failure: code } : {}) };
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions).filter(isOpen)) {
    const failed = failSession(next, session, sessionReason, sessionReason);
    next = failed.state;
    effects.push(...failed.effects);
  }
  const progressStatus = status === 'used' ? null : status;
  if (progressStatus) effects.push({ type: 'progress', status: progressStatus, ...(code ? { code } : {}) });
  const closed = closeIfDone(next);
  return { state: closed.state, effects: [...effects, ...closed.effects] };
}

/** Closes the invite's mailbox once the invite has ended and no session waits for its ack. */
function closeIfDone(state: IssuerState): Step<IssuerState> {
  if (state.mailboxClosed || !isIssuerFinished(state)) return unchanged(state);
  return {
    state: { ...state, mailboxClosed: true },
    effects: [{ type: 'closeMailbox', mailboxId: state.mailboxId }],
  };
}

function resendWelcome(state: IssuerState, session: IssuerSession): Step<IssuerState> {
  const { retryAt: _due, ...rest } = session;
  return {
    state: withSession(state, { ...rest, retries: (session.retries ?? 0) + 1 }),
    effects: [{ type: 'send', to: session.replyTo, frame: session.welcomeFrame! }],
  };
}

function onResumed(state: IssuerState): Step<IssuerState> {
  const effects: Effect[] = [];
  for (const session of Object.values(state.sessions).filter(awaitsAck))
    effects.push({ type: 'send', to: session.replyTo, frame: session.welcomeFrame! });
  if (effects.length === 0) return closeIfDone(state); // an ended invite whose mailbox is still open
  return { state, effects: [...effects, { type: 'resync' }] };
}

/**
 * A relay effect failed. A lost welcome is retried on the backoff schedule (the acceptor's own
 * resent confirm would also bring it back); a reply box that is gone means the acceptor has ended.
 */
function onEffectFailed(
  state: IssuerState,
  event: Extract<HostEvent, { type: 'effectFailed' }>,
  ctx: IssuerStepContext,
): Step<IssuerState> {
  if (event.effect.type !== 'send') return unchanged(state);
  const session = sessionOfFrame(state, event.effect.frame);
  if (!session) return unchanged(state);
  if (isPermanentRelayFailure(event.code)) {
    // The reply box is gone: the acceptor has finished. Its ack (or sealed abort) may still be in
    // our mailbox, so a session awaiting it keeps reading until its deadline; others end now.
    return isOpen(session) ? failSession(state, session, 'INVITE_NOT_FOUND', null) : unchanged(state);
  }
  if (!awaitsAck(session) || session.retryAt !== undefined) return unchanged(state);
  return unchanged(
    withSession(state, { ...session, retryAt: ctx.now + retryDelaySeconds(session.retries ?? 0) }),
  );
}

/**
 * The relay lost the invite's mailbox (and a code's nameplate with it), or kept losing it until
 * the host gave up on it (`code` RELAY_UNRELIABLE): nothing more can arrive.
 */
function onMailboxLost(state: IssuerState, code: ErrorCode = 'INVITE_NOT_FOUND'): Step<IssuerState> {
  let step: Step<IssuerState> =
    state.status === 'pending' ? finish(state, 'failed', 'INVITE_USED', code) : unchanged(state);
  for (const session of Object.values(step.state.sessions).filter(awaitsAck)) {
    const marked = markUnconfirmed(step.state, session);
    step = { state: marked.state, effects: [...step.effects, ...marked.effects] };
  }
  return step;
}

function markUnconfirmed(state: IssuerState, session: IssuerSession): Step<IssuerState> {
  const acceptor = readVerifiedCard(session.acceptorCard!);
  return endAwaitedSession(state, { ...session, phase: 'unconfirmed' }, [
    { type: 'progress', status: 'unconfirmed', sessionId: session.sessionId, peer: acceptor },
  ]);
}

/**
 * The earliest time a clock tick can change this invite (onTick below is a no-op before it), so a
 * host with thousands of waiting invites steps only the few that are due.
 */
export function issuerWakeAt(state: IssuerState): number {
  let wake = state.status === 'pending' ? state.expiresAt : Number.POSITIVE_INFINITY;
  for (const session of Object.values(state.sessions)) {
    if (session.phase === 'awaitingConfirm')
      wake = Math.min(wake, session.startedAt + ISSUER_SESSION_TIMEOUT_SECONDS);
    else if (session.phase === 'awaitingSas') wake = Math.min(wake, completeBy(state.expiresAt));
    else if (awaitsAck(session))
      wake = Math.min(
        wake,
        ackDeadline(state.expiresAt),
        session.retryAt ?? Number.POSITIVE_INFINITY,
        session.resyncAt ?? Number.POSITIVE_INFINITY,
      );
  }
  return wake;
}

function onTick(state: IssuerState, ctx: IssuerStepContext): Step<IssuerState> {
  let step: Step<IssuerState> = unchanged(state);
  const then = (next: Step<IssuerState>) => {
    step = { state: next.state, effects: [...step.effects, ...next.effects] };
  };
  for (const session of Object.values(state.sessions)) {
    const current = step.state.sessions[toHex(session.sessionId)]!;
    if (current.phase === 'awaitingConfirm' && ctx.now - current.startedAt >= ISSUER_SESSION_TIMEOUT_SECONDS)
      then(countGuess(failSession(step.state, current, 'TIMEOUT', 'TIMEOUT')));
    else if (current.phase === 'awaitingSas' && ctx.now >= completeBy(state.expiresAt))
      then(failSession(step.state, current, 'TIMEOUT', 'TIMEOUT'));
    else if (awaitsAck(current) && ctx.now >= ackDeadline(state.expiresAt))
      then(markUnconfirmed(step.state, current));
    else if (awaitsAck(current) && current.retryAt !== undefined && ctx.now >= current.retryAt)
      then(resendWelcome(step.state, current));
    else if (awaitsAck(current) && current.resyncAt !== undefined && ctx.now >= current.resyncAt) {
      const resyncs = (current.resyncs ?? 0) + 1;
      then({
        state: withSession(step.state, {
          ...current,
          resyncs,
          resyncAt: ctx.now + retryDelaySeconds(resyncs),
        }),
        effects: [{ type: 'resync' }],
      });
    }
  }
  const invite = step.state;
  if (invite.status !== 'pending' || ctx.now < invite.expiresAt) return step;
  const inFlight = Object.values(invite.sessions).some(isOpen);
  if (inFlight && ctx.now < completeBy(invite.expiresAt)) return step;
  then(finish(invite, 'expired', 'INVITE_EXPIRED', 'INVITE_EXPIRED'));
  return step;
}
