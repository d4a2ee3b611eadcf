/**
 * Stable, machine-readable error codes. These strings are part of the public contract
 * (JSON-RPC `data.code`, CLI `--json` output, bot messages): extend, never rename.
 */
export const ERROR_CODES = [
  'MALFORMED',
  'TOO_LARGE',
  'UNSUPPORTED_VERSION',
  'BAD_SIGNATURE',
  'INVITE_INVALID',
  'INVITE_EXPIRED',
  'INVITE_USED',
  'INVITE_CANCELLED',
  'INVITE_NOT_FOUND',
  'WRONG_CODE',
  'CROWDED',
  'SAS_REQUIRED',
  'SAS_REJECTED',
  'SELF_PAIRING',
  'PROTOCOL_ERROR',
  'TIMEOUT',
  'RELAY_UNREACHABLE',
  'RATE_LIMITED',
  'KEYSTORE_UNAVAILABLE',
  'PEER_NOT_FOUND',
  'INVALID_PARAMS',
  'AGENT_UNAVAILABLE',
  'UNAUTHORIZED',
  'INTERNAL',
  'RELAY_PROTOCOL',
  'STATE_DAMAGED',
  'PEER_REMOVED',
  'AGENT_RUNNING',
  'MAILBOX_FULL',
  'RELAY_BUSY',
  'CHAT_UNREACHABLE',
  'RELAY_RESTARTED',
  'PARSE_ERROR',
  'INVALID_REQUEST',
  'METHOD_NOT_FOUND',
  'PORT_IN_USE',
  'CODE_TYPO',
  'UNKNOWN_ID',
  'INVITE_BURNED',
  'AGENT_NOT_FOUND',
  'PERMISSION_DENIED',
  'RELAY_UNRELIABLE',
  'RELAY_REFUSED',
  'RELAY_LIMIT',
  'IDENTITY_MISSING',
  'RELAY_UNTRUSTED',
  'DISK_FULL',
  'SERVICE_NOT_RUNNING',
  'NOTICE_QUEUE_FULL',
  'NO_NEXT_KEY',
  'KEY_RETIRED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected failure with a stable code; the message is for humans and never contains secrets. */
export class PairlinkError extends Error {
  override readonly name = 'PairlinkError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** True when `value` is one of the stable error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
