import { getRequestFn, setRequestFn } from 'matrix-bot-sdk';

/** Longest wait honoured for one 429, and how many times one request is retried. */
export const MAX_RETRY_WAIT_MS = 60_000;
export const MAX_RETRIES = 5;

type RequestCallback = (
  err: unknown,
  res: { statusCode?: number; headers?: Record<string, unknown>; body?: unknown },
  body: unknown,
) => void;
type RequestFn = ((params: RequestParams, callback: RequestCallback) => unknown) & {
  pairlinkRetrying?: true;
};
interface RequestParams {
  headers?: Record<string, string>;
}
interface Abortable {
  abort?: () => void;
}

/** In-flight requests by access token, so a stopping bot can abort its own long-poll. */
const inFlight = new Map<string, Set<Abortable>>();
const limitListeners = new Set<(waitMs: number, attempt: number) => void>();

/**
 * How long a 429 asks us to wait: the `Retry-After` header (seconds or an HTTP date; the spec
 * prefers it since v1.10), else `retry_after_ms` in the M_LIMIT_EXCEEDED body, else 1 s.
 */
export function retryAfterMs(
  headers: Record<string, unknown> | undefined,
  body: unknown,
  now = Date.now(),
): number {
  const header = headers?.['retry-after'];
  if (typeof header === 'string' && header.trim()) {
    const seconds = Number(header.trim());
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = null;
    }
  }
  const ms = (parsed as { retry_after_ms?: unknown } | null)?.retry_after_ms;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  return 1000;
}

/**
 * Wraps matrix-bot-sdk's HTTP requests (once per process):
 *  - a 429 is retried after as long as the server asks (up to MAX_RETRY_WAIT_MS; a longer wait
 *    is returned to the caller as the error it is), at most MAX_RETRIES times: matrix-bot-sdk
 *    itself does not retry;
 *  - requests are tracked by access token, for `abortRequests`.
 * `onLimited` hears of each wait.
 */
export function installRequestWrapper(onLimited: (waitMs: number, attempt: number) => void): () => void {
  limitListeners.add(onLimited);
  const remove = () => {
    limitListeners.delete(onLimited);
  };
  const inner = getRequestFn() as RequestFn;
  if (inner.pairlinkRetrying) return remove;
  const wrapped: RequestFn = (params, callback) => {
    const token = params.headers?.Authorization ?? '';
    let attempt = 0;
    let current: Abortable | undefined;
    let settled = false;
    const settle: typeof callback = (err, res, body) => {
      if (settled) return;
      settled = true;
      callback(err, res, body);
    };
    // The `request` library never calls back an aborted request, so the SDK call waiting on it
    // would never settle (a stopping bot's queued edit would hold its stop forever): abort, then
    // fail the call.
    const handle: Abortable = {
      abort: () => {
        current?.abort?.();
        settle(new Error('request aborted: the bot is stopping'), {}, undefined);
      },
    };
    const track = (add: boolean) => {
      const set = inFlight.get(token) ?? new Set();
      if (add) set.add(handle);
      else set.delete(handle);
      if (set.size > 0) inFlight.set(token, set);
      else inFlight.delete(token);
    };
    const go = () => {
      if (settled) return; // aborted while waiting out a 429
      current = inner(params, (err, res, body) => {
        track(false);
        if (!err && res?.statusCode === 429 && attempt < MAX_RETRIES) {
          const wait = retryAfterMs(res.headers, body ?? res.body);
          if (wait <= MAX_RETRY_WAIT_MS) {
            attempt++;
            for (const listener of limitListeners) listener(wait, attempt);
            track(true);
            setTimeout(go, wait);
            return;
          }
        }
        settle(err, res, body);
      }) as Abortable | undefined;
      track(true);
    };
    go();
  };
  wrapped.pairlinkRetrying = true;
  setRequestFn(wrapped);
  return remove;
}

/** Aborts the in-flight requests made with this access token (a stopping bot's long-poll). */
export function abortRequests(accessToken: string): void {
  const set = inFlight.get(`Bearer ${accessToken}`);
  inFlight.delete(`Bearer ${accessToken}`);
  for (const request of set ?? []) request.abort?.();
}
