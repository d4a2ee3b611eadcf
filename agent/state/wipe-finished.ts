import { type AcceptorState, type AcceptTarget, isAcceptorFinished } from '../../src/handshake/acceptor.js';
import { type IssuerSession, type IssuerState, isIssuerFinished } from '../../src/handshake/issuer.js';
import type { AcceptRecord, InviteRecord } from './agent-state.js';

/**
 * What a record no longer needs is erased as soon as it no longer needs it, so that a stolen
 * state directory (docs/SECURITY.md) holds no secret of anything finished: no link or code
 * secret (nor the link or code text), no ephemeral or session secret, no mailbox capability.
 * Each function returns its argument itself when there is nothing left to erase, so the state's
 * change detection (by reference) and the log see no change. What the operator and scripts read
 * stays: ids, status, phases, peers' cards, times, error codes, failedAttempts, the SAS shown.
 */
const WIPED = new Uint8Array(0);

const isEmpty = (bytes: Uint8Array | undefined) => bytes === undefined || bytes.length === 0;

/** A session that ended while its invite runs on: its keys and reply go (a duplicate confirm is answered from the stored welcome). */
function wipeEndedSession(session: IssuerSession): IssuerSession {
  if (isEmpty(session.ephemeralSecret) && isEmpty(session.sessionSecret) && isEmpty(session.replyFrame))
    return session;
  return { ...session, ephemeralSecret: WIPED, sessionSecret: WIPED, replyFrame: WIPED };
}

/**
 * A session of a finished invite: nothing is answered any more, so every frame and capability goes
 * too, our inbox frame and the peer's inbox with them (the pin holds the peer's inbox).
 */
function wipeFinishedSession(session: IssuerSession): IssuerSession {
  const keysGone = wipeEndedSession(session) === session;
  if (
    keysGone &&
    isEmpty(session.transcript) &&
    isEmpty(session.replyTo.writeCapability) &&
    session.welcomeFrame === undefined &&
    session.finalFrame === undefined &&
    session.inboxFrame === undefined &&
    session.peerInbox === undefined
  ) {
    return session;
  }
  const {
    welcomeFrame: _welcome,
    finalFrame: _final,
    inboxFrame: _inboxFrame,
    peerInbox: _peerInbox,
    ...rest
  } = session;
  return {
    ...rest,
    ephemeralSecret: WIPED,
    sessionSecret: WIPED,
    replyFrame: WIPED,
    transcript: WIPED,
    replyTo: { mailboxId: session.replyTo.mailboxId, writeCapability: WIPED },
  };
}

/**
 * The issuer's machine state: an ended session loses its keys; once the invite itself has ended
 * (no longer pending), its secret and its ephemeral seed go; once it is finished (no ack awaited
 * either), every session loses everything it held for answering.
 */
export function wipeFinishedIssuer(issuer: IssuerState): IssuerState {
  const finished = isIssuerFinished(issuer);
  let sessions = issuer.sessions;
  for (const [key, session] of Object.entries(issuer.sessions)) {
    const ended = session.phase === 'completed' || session.phase === 'failed';
    const wiped = finished ? wipeFinishedSession(session) : ended ? wipeEndedSession(session) : session;
    if (wiped !== session) sessions = { ...sessions, [key]: wiped };
  }
  const pending = issuer.status === 'pending';
  const secretGone =
    issuer.formSecret.form === 'url'
      ? issuer.formSecret.secret.length === 0
      : issuer.formSecret.code.secret === '';
  if (sessions === issuer.sessions && (pending || (secretGone && isEmpty(issuer.ephemeralSeed))))
    return issuer;
  if (pending) return { ...issuer, sessions };
  const formSecret =
    issuer.formSecret.form === 'url'
      ? { form: 'url' as const, secret: WIPED }
      : { form: 'code' as const, code: { nameplate: issuer.formSecret.code.nameplate, secret: '' } };
  return { ...issuer, sessions, formSecret, ...(issuer.ephemeralSeed ? { ephemeralSeed: WIPED } : {}) };
}

/**
 * An invite record: its machine as above; once the invite has ended, the link or code text (it
 * carries the secret); once finished, its mailbox's capabilities (the mailbox is closed).
 */
export function wipeFinishedInvite(record: InviteRecord): InviteRecord {
  const issuer = wipeFinishedIssuer(record.issuer);
  let next: InviteRecord = issuer === record.issuer ? record : { ...record, issuer };
  if (issuer.status !== 'pending' && (next.url ?? next.customUrl ?? next.code) !== undefined) {
    const { url: _url, customUrl: _custom, code: _code, ...rest } = next;
    next = rest;
  }
  if (isIssuerFinished(issuer) && (!isEmpty(next.readCapability) || next.writeCapability !== undefined)) {
    const { writeCapability: _write, ...rest } = next;
    next = { ...rest, readCapability: WIPED };
  }
  return next;
}

/** What an accept is aimed at, without its secret or its write capability (the public rest stays). */
function wipeTarget(target: AcceptTarget): AcceptTarget {
  if (target.form === 'url')
    return { ...target, invite: { ...target.invite, secret: WIPED, writeCapability: WIPED } };
  return {
    ...target,
    code: { nameplate: target.code.nameplate, secret: '' },
    issuerMailbox: { mailboxId: target.issuerMailbox.mailboxId, writeCapability: WIPED },
  };
}

function isTargetWiped(target: AcceptTarget): boolean {
  return target.form === 'url'
    ? isEmpty(target.invite.secret) && isEmpty(target.invite.writeCapability)
    : target.code.secret === '' && isEmpty(target.issuerMailbox.writeCapability);
}

/**
 * A finished accept: nothing secret or resendable is kept (the code's nameplate and the mailbox it
 * named stay, for refusing a burned code), nor our inbox frame or the issuer's inbox (its pin has it). A paired accept whose ack the relay has not yet taken
 * is not finished: it still needs the ack's bytes to resend them.
 */
export function wipeFinishedAcceptor(acceptor: AcceptorState): AcceptorState {
  if (!isAcceptorFinished(acceptor)) return acceptor;
  const wiped =
    isEmpty(acceptor.ephemeralSecret) &&
    isEmpty(acceptor.lastSentFrame) &&
    acceptor.sessionSecret === undefined &&
    acceptor.transcript === undefined &&
    isEmpty(acceptor.replyBox.readCapability) &&
    isEmpty(acceptor.replyBox.writeCapability) &&
    acceptor.inboxFrame === undefined &&
    acceptor.peerInbox === undefined &&
    isTargetWiped(acceptor.target);
  if (wiped) return acceptor;
  const {
    sessionSecret: _secret,
    transcript: _transcript,
    inboxFrame: _inboxFrame,
    peerInbox: _peerInbox,
    ...rest
  } = acceptor;
  return {
    ...rest,
    target: wipeTarget(acceptor.target),
    replyBox: { mailboxId: acceptor.replyBox.mailboxId, readCapability: WIPED, writeCapability: WIPED },
    ephemeralSecret: WIPED,
    lastSentFrame: WIPED,
  };
}

/** An accept record (its machine holds everything secret). */
export function wipeFinishedAccept(record: AcceptRecord): AcceptRecord {
  const acceptor = wipeFinishedAcceptor(record.acceptor);
  return acceptor === record.acceptor ? record : { ...record, acceptor };
}
