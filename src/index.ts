/** pairlink's pure core: encodings, identity, cards, invites, the handshake and the RPC contract. */
export { ERROR_CODES, type ErrorCode, isErrorCode, PairlinkError } from './errors.js';
export { type AcceptorState, type AcceptTarget, startAcceptor, stepAcceptor } from './handshake/acceptor.js';
export type { Effect, OwnedMailbox, ProgressStatus, Step, StepContext } from './handshake/effects.js';
export {
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_FRAME_BYTES,
  type MailboxAddress,
} from './handshake/frames.js';
export { type IssuerState, type IssuerStepContext, stepIssuer } from './handshake/issuer.js';
export { mintCodeInvite, mintUrlInvite } from './handshake/mint.js';
export { deriveSas, type Sas } from './handshake/sas.js';
export { type Card, issueCard, verifyCard } from './identity/card.js';
export {
  decodeDidKey,
  encodeDidKey,
  fingerprint,
  Identity,
  type IdentitySecrets,
} from './identity/identity.js';
export { type InvitePolicy, type InviteRequest, resolveInvitePolicy } from './invite/invite-policy.js';
export { type InviteText, parseInviteText } from './invite/invite-text.js';
export { looksLikeInviteUrl, parseInviteUrl, type UrlInvite } from './invite/invite-url.js';
export { formatShortCode, parseShortCode, type ShortCode } from './invite/short-code.js';
export * from './rpc/errors.js';
export * from './rpc/protocol.js';
