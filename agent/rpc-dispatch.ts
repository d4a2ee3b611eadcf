import { type ErrorCode, PairlinkError } from '../src/errors.js';
import { applicationErrorNumber, RPC_PROTOCOL_ERRORS } from '../src/rpc/errors.js';

/**
 * A strict JSON-RPC 2.0 dispatcher for one request line (docs/SECURITY.md §Local socket). It never
 * throws and never logs a stack: every malformed request gets the error the spec names, an `id`
 * that is not a string, a number or null is refused before anything tries to echo it (a deeply
 * nested id would overflow JSON.stringify), and a handler's failure becomes one error answer.
 */

export type RpcId = string | number | null;

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data: { readonly code: ErrorCode };
}

export interface RpcRequest {
  readonly id: RpcId | undefined; // undefined: a notification, never answered
  readonly method: string;
  readonly params: unknown;
}

/** What a handler reports about one call, for the one log line per failed call. */
export interface CallOutcome {
  readonly method: string;
  readonly code: ErrorCode;
  readonly ms: number;
  /** For INTERNAL only: the first line of what was thrown (never a stack). */
  readonly detail?: string;
}

export type Handler = (params: unknown) => Promise<unknown>;

/** Lookups by id, and the code that means "no such id". */
const LOOKUPS: Readonly<Record<string, ErrorCode>> = {
  'invite.get': 'UNKNOWN_ID',
  'accept.get': 'UNKNOWN_ID',
  'peer.get': 'PEER_NOT_FOUND',
};

/**
 * The level of a failed call's log line: info, except a lookup answering "no such id", which is
 * an answer the caller asked for (`pairlink wait` asks whether an id is an invite before trying
 * it as an accept), not something for the operator: debug.
 */
export function failureLevel(outcome: CallOutcome): 'info' | 'debug' {
  return LOOKUPS[outcome.method] === outcome.code ? 'debug' : 'info';
}

const MAX_ID_LENGTH = 256;

export function errorAnswer(id: RpcId, error: RpcErrorObject): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

export function protocolError(
  kind: 'parseError' | 'invalidRequest' | 'methodNotFound',
  message: string,
): RpcErrorObject {
  const data = (
    {
      parseError: 'PARSE_ERROR',
      invalidRequest: 'INVALID_REQUEST',
      methodNotFound: 'METHOD_NOT_FOUND',
    } as const
  )[kind];
  return { code: RPC_PROTOCOL_ERRORS[kind], message, data: { code: data } };
}

export function domainError(code: ErrorCode, message: string): RpcErrorObject {
  return { code: applicationErrorNumber(code), message, data: { code } };
}

function isId(value: unknown): value is RpcId {
  return (
    value === null ||
    (typeof value === 'string' && value.length <= MAX_ID_LENGTH) ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/** Checks one request object; an error answer (with the id when it was usable) when it is not one. */
export function readRequest(value: unknown): RpcRequest | { readonly invalid: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return errorAnswerFor(null, 'a request must be a JSON object');
  const object = value as Record<string, unknown>;
  const hasId = Object.hasOwn(object, 'id');
  const id = hasId ? object.id : undefined;
  if (hasId && !isId(id)) return errorAnswerFor(null, 'id must be a string, a number or null');
  const answerId = (hasId ? id : null) as RpcId;
  if (object.jsonrpc !== '2.0') return errorAnswerFor(answerId, 'jsonrpc must be "2.0"');
  if (typeof object.method !== 'string' || object.method.length > 128)
    return errorAnswerFor(answerId, 'method must be a string');
  if (Object.hasOwn(object, 'params')) {
    const params = object.params;
    if (typeof params !== 'object' || params === null)
      return errorAnswerFor(answerId, 'params must be an object or an array');
  }
  return { id: id as RpcId | undefined, method: object.method, params: object.params };
}

function errorAnswerFor(id: RpcId, message: string): { readonly invalid: string } {
  return { invalid: errorAnswer(id, protocolError('invalidRequest', message)) };
}

/** Runs one request; resolves with its answer line (without newline), or null for a notification. */
export async function dispatch(
  request: RpcRequest,
  handlers: ReadonlyMap<string, Handler>,
  onFailure: (outcome: CallOutcome) => void,
): Promise<string | null> {
  const handler = handlers.get(request.method);
  const answerId = request.id === undefined ? null : request.id;
  let answer: string;
  if (!handler) {
    onFailure({ method: request.method.slice(0, 64), code: 'METHOD_NOT_FOUND', ms: 0 });
    answer = errorAnswer(answerId, protocolError('methodNotFound', 'no such method'));
  } else {
    const started = performance.now();
    try {
      const result = await handler(request.params);
      answer = JSON.stringify({ jsonrpc: '2.0', id: answerId, result: result ?? null });
    } catch (error) {
      const code: ErrorCode = error instanceof PairlinkError ? error.code : 'INTERNAL';
      const message = error instanceof PairlinkError ? error.message : 'internal error';
      const ms = Math.round(performance.now() - started);
      const detail =
        code === 'INTERNAL'
          ? String((error as Error)?.message ?? error)
              .split('\n')[0]!
              .slice(0, 200)
          : '';
      onFailure({ method: request.method, code, ms, ...(detail ? { detail } : {}) });
      answer = errorAnswer(answerId, domainError(code, message));
    }
  }
  return request.id === undefined ? null : answer;
}
