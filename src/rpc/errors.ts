import { ERROR_CODES, type ErrorCode, isErrorCode } from '../errors.js';

/** JSON-RPC 2.0 reserved codes (protocol errors). */
export const RPC_PROTOCOL_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

/** The stable codes of the JSON-RPC protocol errors, by their reserved numbers. */
const PROTOCOL_CODES: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [RPC_PROTOCOL_ERRORS.parseError, 'PARSE_ERROR'],
  [RPC_PROTOCOL_ERRORS.invalidRequest, 'INVALID_REQUEST'],
  [RPC_PROTOCOL_ERRORS.methodNotFound, 'METHOD_NOT_FOUND'],
  [RPC_PROTOCOL_ERRORS.invalidParams, 'INVALID_PARAMS'],
  [RPC_PROTOCOL_ERRORS.internalError, 'INTERNAL'],
]);

/**
 * Error numbers: the JSON-RPC reserved number for the five protocol errors, else 1000 + the
 * code's index in ERROR_CODES. Clients should key on the stable string in `error.data.code`; the
 * number is only there because JSON-RPC needs one.
 */
export function applicationErrorNumber(code: ErrorCode): number {
  for (const [number, protocolCode] of PROTOCOL_CODES) if (protocolCode === code) return number;
  return 1000 + ERROR_CODES.indexOf(code);
}

/**
 * The stable code of an error answer: its `data.code` when this side knows it, else the
 * protocol error its number names (an answer from an agent that predates the string, or a
 * JSON-RPC peer other than pairlink), else INTERNAL.
 */
export function errorCodeOfAnswer(error: { code?: unknown; data?: { code?: unknown } }): ErrorCode {
  const named = error.data?.code;
  if (isErrorCode(named)) return named;
  return (typeof error.code === 'number' && PROTOCOL_CODES.get(error.code)) || 'INTERNAL';
}

/** The `error.data` every pairlink JSON-RPC error carries. */
export interface RpcErrorData {
  readonly code: ErrorCode;
}
