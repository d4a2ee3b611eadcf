import { type AcceptorState, isAcceptorFinished } from '../../src/handshake/acceptor.js';
import type { IssuerState } from '../../src/handshake/issuer.js';

const WIPED = new Uint8Array(0);

/**
 * Erases what a finished session never needs again: its ephemeral secret, session secret and
 * reply frame (a duplicate confirm is answered from the stored welcome bytes). Once the invite
 * itself is finished, its secret and its ephemeral seed go too. Keeping them would only weaken forward secrecy and
 * grow the state that is re-sealed on every step.
 */
export function wipeFinishedIssuer(issuer: IssuerState): IssuerState {
  let sessions = issuer.sessions;
  for (const [key, session] of Object.entries(issuer.sessions)) {
    if ((session.phase === 'completed' || session.phase === 'failed') && session.sessionSecret.length > 0) {
      sessions = {
        ...sessions,
        [key]: { ...session, ephemeralSecret: WIPED, sessionSecret: WIPED, replyFrame: WIPED },
      };
    }
  }
  let formSecret = issuer.formSecret;
  if (issuer.status !== 'pending') {
    formSecret =
      formSecret.form === 'url'
        ? { form: 'url', secret: WIPED }
        : { form: 'code', code: { nameplate: formSecret.code.nameplate, secret: '' } };
  }
  const unchanged = sessions === issuer.sessions && (issuer.status === 'pending' || isWiped(issuer));
  if (unchanged) return issuer;
  const ended = issuer.status !== 'pending' && issuer.ephemeralSeed ? { ephemeralSeed: WIPED } : {};
  return { ...issuer, sessions, formSecret, ...ended };
}

function isWiped(issuer: IssuerState): boolean {
  const secretGone =
    issuer.formSecret.form === 'url'
      ? issuer.formSecret.secret.length === 0
      : issuer.formSecret.code.secret === '';
  return secretGone && (issuer.ephemeralSeed === undefined || issuer.ephemeralSeed.length === 0);
}

/**
 * The same for a finished accept: nothing secret or resendable is kept. A paired accept whose ack
 * the relay has not yet taken is not finished: it still needs the ack's bytes to resend them.
 */
export function wipeFinishedAcceptor(acceptor: AcceptorState): AcceptorState {
  if (!isAcceptorFinished(acceptor) || acceptor.ephemeralSecret.length === 0) return acceptor;
  const { sessionSecret: _secret, transcript: _transcript, ...rest } = acceptor;
  return { ...rest, ephemeralSecret: WIPED, lastSentFrame: WIPED };
}
