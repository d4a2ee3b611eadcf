import { type ErrorCode, isErrorCode, PairlinkError } from './errors.js';

/**
 * The one place where error codes become sentences for people, shared by the CLI and both bots:
 * what happened, and what to do. Messages from deeper layers are appended only where they add
 * facts, never secrets. test/unit/error-text.test.ts checks that every code has its sentence.
 */
export const ERROR_TEXT: Readonly<Record<ErrorCode, string>> = {
  MALFORMED: 'That is not a pairlink invite link or code; check that it was copied whole.',
  TOO_LARGE: 'That is too long to be a pairlink invite or request; check what was pasted.',
  UNSUPPORTED_VERSION: 'That invite was made by a newer pairlink; upgrade to use it.',
  BAD_SIGNATURE: 'The invite or the peer failed signature verification; nothing was pinned.',
  INVITE_INVALID: 'That invite is not valid; ask its issuer for a new one.',
  INVITE_EXPIRED: 'That invite has expired; ask for a new one.',
  INVITE_USED: 'That invite has already been used; ask its issuer for a new one.',
  INVITE_CANCELLED: 'That invite was cancelled by its issuer; ask for a new one if you still need it.',
  INVITE_NOT_FOUND:
    'That invite is no longer there: it has expired or was used. Ask its issuer for a new one.',
  WRONG_CODE: 'The code did not match; check it and ask for a new one if needed. Nothing was pinned.',
  CROWDED: 'Too many others are using that invite at once; try again in a minute or ask for a new one.',
  SAS_REQUIRED: 'This pairing needs the security code (SAS) to be confirmed first.',
  SAS_REJECTED: 'The security codes did not match; pairing stopped and nothing was pinned.',
  SELF_PAIRING: 'That invite was made by this same agent; it has to be accepted on another one.',
  PROTOCOL_ERROR: 'The other side broke the protocol; nothing was pinned.',
  TIMEOUT:
    'The other side did not answer in time; nothing was pinned. Check that its agent is running and try again.',
  RELAY_UNREACHABLE: 'The relay cannot be reached; check the network and the relay URL.',
  RELAY_PROTOCOL:
    'The relay answered in a way pairlink does not understand (another version, or not a pairlink relay).',
  PEER_REMOVED:
    'The other side removed this agent as a peer; invites it made before that no longer work for you. Ask for a new invite.',
  AGENT_RUNNING:
    'Another pairlink agent is already running with that home or socket; stop it first, or use another PAIRLINK_HOME or PAIRLINK_SOCKET.',
  MAILBOX_FULL:
    'The relay mailbox of this pairing is full (someone may be flooding it); ask for a new invite.',
  RELAY_BUSY: 'The relay is overloaded or failing right now; try again in a minute.',
  CHAT_UNREACHABLE: 'The chat server cannot be reached; check its URL and the network.',
  RELAY_RESTARTED:
    "The relay restarted and lost that invite; its issuer's agent puts it back once it is running, so try again later or ask for a new one.",
  STATE_DAMAGED: "The agent's saved state is damaged or incomplete; it will not start without it.",
  RATE_LIMITED: 'Too many requests; wait a moment and try again.',
  KEYSTORE_UNAVAILABLE: 'No keystore is available for the identity secrets.',
  PEER_NOT_FOUND: 'There is no pinned peer with that did; `pairlink peers` lists them.',
  INVALID_PARAMS: 'That request is not valid:',
  AGENT_UNAVAILABLE:
    'The pairlink agent is not reachable right now (its operator starts it with `pairlink agent`); try again in a moment.',
  AGENT_NOT_FOUND:
    'No pairlink agent was found; start one with `pairlink up` (to try it here) or `pairlink agent`, install one with `pairlink service install`, or set PAIRLINK_SOCKET to its socket. Looked for it at:',
  PERMISSION_DENIED:
    "A file or directory pairlink needs is out of this user's reach, or open to other users; check who owns it and its mode:",
  UNAUTHORIZED: 'Not allowed: the credentials were refused.',
  INTERNAL: 'Something went wrong inside pairlink (a bug; please report it):',
  PARSE_ERROR: 'The agent could not read that request as JSON:',
  INVALID_REQUEST: 'That is not a JSON-RPC 2.0 request the agent accepts:',
  METHOD_NOT_FOUND:
    'The agent has no method by that name; `pairlink rpc agent.methods` lists them (docs/RPC.md describes each).',
  PORT_IN_USE: 'That port is already in use, so nothing was started:',
  CODE_TYPO: 'That code has a typo; compare it with the original, character by character.',
  INVITE_BURNED:
    'That code was burned by three wrong attempts and no longer works; ask its issuer for a new one.',
  RELAY_UNRELIABLE:
    "The relay kept saying it held this pairing's mailbox and then that it had none, so pairing stopped; use another relay.",
  RELAY_REFUSED: 'This agent will not contact that relay (docs/SECURITY.md, relay URLs from invites):',
  RELAY_LIMIT:
    'This agent already talks to as many relays as it may at once; try again when one of its pairings ends:',
  RELAY_UNTRUSTED:
    "This agent does not trust the relay's TLS certificate, so it sent nothing there; for a relay with a private CA, name the CA's certificate file in agent.caFile or PAIRLINK_CA_FILE.",
  UNKNOWN_ID: 'This agent has no invite or accept with that id; `pairlink invites --all` lists its invites.',
  IDENTITY_MISSING:
    'This agent will not start as someone new, unknown to its peers, while its home holds the state of an earlier identity:',
  DISK_FULL: "The disk holding the agent's state is full, so this could not be saved; free some space on it:",
  SERVICE_NOT_RUNNING:
    'That service is not running; `pairlink service install` installs it and the service manager starts it:',
  NOTICE_QUEUE_FULL:
    'Too many notices to this peer are still waiting for it (16); try again once it has answered them.',
  NO_NEXT_KEY: "This device does not hold the identity's next key; rotate on the device that does.",
  KEY_RETIRED:
    'That key was retired by a rotation of its identity, so this agent refuses it; pair with the identity’s new key.',
};

/**
 * Any error as one line for a person: the code's sentence, then the detail the error carries when
 * it adds something (not when it only repeats the code). Sentences ending in a colon take the
 * detail plainly; others in brackets.
 */
export function describeError(error: unknown): { code: ErrorCode; text: string } {
  const code: ErrorCode =
    error instanceof PairlinkError
      ? error.code
      : isErrorCode((error as { code?: unknown })?.code)
        ? (error as { code: ErrorCode }).code
        : 'INTERNAL';
  const raw = error instanceof Error ? error.message : String(error ?? '');
  const detail = raw.trim().slice(0, 1500);
  const sentence = ERROR_TEXT[code];
  const repeats = detail === '' || detail === code || new RegExp(`^[\\w ]*: ${code}$`).test(detail);
  if (repeats) return { code, text: sentence.endsWith(':') ? `${sentence.slice(0, -1)}.` : sentence };
  // A detail that already starts with the sentence (a paragraph of instructions) stands alone.
  if (detail.startsWith(sentence.replace(/[.:]$/, ''))) return { code, text: detail };
  return { code, text: sentence.endsWith(':') ? `${sentence} ${detail}` : `${sentence} (${detail})` };
}
