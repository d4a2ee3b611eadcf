import type { ErrorCode } from '../src/errors.js';

/**
 * The one place where error codes become sentences for people (the bots have their own, in the
 * bot core). Messages from deeper layers are appended only where they add facts, never secrets.
 */
export const ERROR_TEXT: Readonly<Record<ErrorCode, string>> = {
  MALFORMED: 'That is not a valid pairlink invite or message.',
  TOO_LARGE: 'That input is too large.',
  UNSUPPORTED_VERSION: 'That invite was made by a newer pairlink; upgrade to use it.',
  BAD_SIGNATURE: 'The invite or the peer failed signature verification; nothing was pinned.',
  INVITE_INVALID: 'That invite is not valid.',
  INVITE_EXPIRED: 'That invite has expired; ask for a new one.',
  INVITE_USED: 'That invite has already been used.',
  INVITE_CANCELLED: 'That invite was cancelled by its issuer.',
  INVITE_NOT_FOUND: 'No such invite (it may have expired or been used).',
  WRONG_CODE: 'The code did not match; check it and ask for a new one if needed. Nothing was pinned.',
  CROWDED: 'Someone else is already using that code; ask for a new one.',
  SAS_REQUIRED: 'This pairing needs the security code (SAS) to be confirmed first.',
  SAS_REJECTED: 'The security codes did not match; pairing stopped and nothing was pinned.',
  SELF_PAIRING: 'That invite was made by this same identity.',
  PROTOCOL_ERROR: 'The other side broke the protocol; nothing was pinned.',
  TIMEOUT: 'The other side did not answer in time.',
  RELAY_UNREACHABLE: 'The relay cannot be reached.',
  RELAY_PROTOCOL: 'The relay sent an answer that does not follow the protocol.',
  PEER_REMOVED:
    'The other side removed this agent as a peer; invites it made before that no longer work for you. Ask for a new invite.',
  STATE_DAMAGED: "The agent's saved state is damaged or incomplete; it will not start without it.",
  RATE_LIMITED: 'Too many requests; try again shortly.',
  KEYSTORE_UNAVAILABLE: 'No keystore is available for the identity secrets.',
  PEER_NOT_FOUND: 'No such peer.',
  INVALID_PARAMS: 'Invalid arguments.',
  AGENT_UNAVAILABLE: 'The pairlink agent is not running (start it with `pairlink agent`).',
  UNAUTHORIZED: 'Not allowed.',
  INTERNAL: 'Internal error.',
};
