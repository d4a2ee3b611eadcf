import { type ErrorCode, PairlinkError } from '../src/errors.js';
import { applicationErrorNumber, RPC_PROTOCOL_ERRORS } from '../src/rpc/errors.js';
import type {
  AgentInfo,
  RpcMethodName,
  RpcMethods,
  RpcNotificationName,
  RpcNotifications,
} from '../src/rpc/protocol.js';
import { PARAM_SCHEMAS } from '../src/rpc/schemas.js';

/**
 * The agent's JSON-RPC 2.0 protocol layer, apart from any socket (docs/SECURITY.md §Local socket):
 * request lines, batches, their bounds, and params checked by the contract's schemas before a
 * method runs. It never throws and never logs a stack: every malformed request gets the error the
 * spec names, an `id` that is not a string, a number or null is refused before anything tries to
 * echo it (a deeply nested id would overflow JSON.stringify), and a method's failure becomes one
 * error answer. The transport (socket-connection.ts) hands it lines and writes what it answers;
 * tests hand it lines directly.
 */

/** Largest request line accepted. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Requests one connection may have in progress; past this the transport stops reading it for a
 * while. A batch counts as many as it has entries, so a larger batch is refused whole.
 */
export const MAX_IN_FLIGHT = 256;

/** Per-connection state the methods see (kept by the server, never on the socket). */
export interface Connection {
  readonly id: number;
  subscribed: boolean;
}

/** What the agent holds for one connection, as `agent.info` reports it. */
export type ConnectionFigures = AgentInfo['connections'][number];

/** The methods: each takes its checked params and the connection it was called on. */
export type RpcHandlers = {
  [M in RpcMethodName]: (
    params: RpcMethods[M]['params'],
    connection: Connection,
  ) => Promise<RpcMethods[M]['result']>;
};

/** Sends one notification to every connection that subscribed. */
export type Broadcast = <N extends RpcNotificationName>(method: N, params: RpcNotifications[N]) => void;

/** Starts handing events to `broadcast` as notifications; the function it returns stops that. */
export type NotificationSource = (broadcast: Broadcast) => () => void;

/** What the server serves: the methods, and the events it sends subscribers as notifications. */
export interface RpcService {
  /** The methods, given what the server holds for each open connection (for `agent.info`). */
  readonly methods: (connections: () => ConnectionFigures[]) => RpcHandlers;
  readonly notifications: NotificationSource;
}

/** One request line handed to the protocol layer: how many requests it holds, and its answer. */
export interface LineRun {
  readonly count: number;
  readonly done: Promise<string | null>;
}

/** What the protocol layer does with a line, and with a line too long to read. */
export interface LineHandler {
  run(line: string): LineRun;
  tooLarge(): string;
}

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

type Handler = (params: unknown) => Promise<unknown>;

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

function errorAnswer(id: RpcId, error: RpcErrorObject): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

function protocolError(
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

function domainError(code: ErrorCode, message: string): RpcErrorObject {
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
async function dispatch(
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

function tooLarge(): string {
  return errorAnswer(null, domainError('TOO_LARGE', 'request larger than 1 MiB'));
}

/**
 * The methods of one connection, each checking its params with the contract's strict schema
 * before the handler runs (a refusal is INVALID_PARAMS, naming at most five issues).
 */
function checkedHandlers(methods: RpcHandlers, connection: Connection): ReadonlyMap<string, Handler> {
  const map = new Map<string, Handler>();
  for (const name of Object.keys(PARAM_SCHEMAS) as RpcMethodName[]) {
    map.set(name, async (params: unknown) => {
      const parsed = PARAM_SCHEMAS[name].safeParse(params ?? {});
      if (!parsed.success) {
        const detail = parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.slice(0, 8).join('.') || 'params'}: ${i.message}`)
          .join('; ');
        throw new PairlinkError('INVALID_PARAMS', `invalid params: ${detail.slice(0, 500)}`);
      }
      return (methods[name] as RpcHandlers[RpcMethodName])(parsed.data as never, connection);
    });
  }
  return map;
}

/** One line: a request or a batch. Resolves with the answer line, or null when none is due. */
function runLine(
  line: string,
  handlers: ReadonlyMap<string, Handler>,
  onFailure: (outcome: CallOutcome) => void,
): LineRun {
  const now = (answer: string | null) => ({ count: 1, done: Promise.resolve(answer) });
  if (line.length > MAX_FRAME_BYTES && Buffer.byteLength(line) > MAX_FRAME_BYTES) return now(tooLarge());
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return now(errorAnswer(null, protocolError('parseError', 'not valid JSON')));
  }
  if (!Array.isArray(value)) {
    const request = readRequest(value);
    if ('invalid' in request) return now(request.invalid);
    return { count: 1, done: dispatch(request, handlers, onFailure) };
  }
  if (value.length === 0) return now(errorAnswer(null, protocolError('invalidRequest', 'empty batch')));
  if (value.length > MAX_IN_FLIGHT)
    return now(
      errorAnswer(
        null,
        domainError(
          'TOO_LARGE',
          `a batch holds at most ${MAX_IN_FLIGHT} requests; this one has ${value.length}`,
        ),
      ),
    );
  const answers = value.map((entry) => {
    const request = readRequest(entry);
    return 'invalid' in request ? Promise.resolve(request.invalid) : dispatch(request, handlers, onFailure);
  });
  return {
    count: value.length,
    done: Promise.all(answers).then((all) => {
      const due = all.filter((a): a is string => a !== null);
      return due.length === 0 ? null : `[${due.join(',')}]`;
    }),
  };
}

/**
 * The protocol for one connection: what to answer to each line it sends. `onFailure` hears of
 * every failed call (for its one log line).
 */
export function connectionDispatcher(
  methods: RpcHandlers,
  connection: Connection,
  onFailure: (outcome: CallOutcome) => void,
): LineHandler {
  const handlers = checkedHandlers(methods, connection);
  return { run: (line) => runLine(line, handlers, onFailure), tooLarge };
}
