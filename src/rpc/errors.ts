import { ERROR_CODES, type ErrorCode } from '../errors.js';

/** JSON-RPC 2.0 reserved codes (protocol errors). */
export const RPC_PROTOCOL_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

/**
 * Application error numbers: 1000 + the code's index in ERROR_CODES. Clients should key on the
 * stable string in `error.data.code`; the number is only there because JSON-RPC needs one.
 */
export function applicationErrorNumber(code: ErrorCode): number {
  if (code === 'INVALID_PARAMS') return RPC_PROTOCOL_ERRORS.invalidParams;
  if (code === 'INTERNAL') return RPC_PROTOCOL_ERRORS.internalError;
  return 1000 + ERROR_CODES.indexOf(code);
}

/** The `error.data` every pairlink JSON-RPC error carries. */
export interface RpcErrorData {
  readonly code: ErrorCode;
}
