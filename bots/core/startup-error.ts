import { PairlinkError } from '../../src/errors.js';

const NETWORK =
  /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR_CONNECT_TIMEOUT)$/;

/**
 * A chat service's failure at start-up, as an error an operator can act on: the service cannot
 * be reached (check the URL), or it refused the token (no token text in the message), or else
 * the service's own message.
 */
export function startupError(error: unknown, service: string, url: string): PairlinkError {
  if (error instanceof PairlinkError) return error;
  const e = error as {
    code?: unknown;
    errcode?: unknown;
    status?: unknown;
    statusCode?: unknown;
    message?: string;
    cause?: { code?: unknown };
  };
  const network = [e.code, e.cause?.code].find((c) => typeof c === 'string' && NETWORK.test(c));
  if (network) return new PairlinkError('CHAT_UNREACHABLE', `cannot reach ${service} at ${url} (${network})`);
  if (
    e.errcode === 'M_UNKNOWN_TOKEN' ||
    e.errcode === 'M_MISSING_TOKEN' ||
    e.code === 'TokenInvalid' ||
    e.status === 401 ||
    e.statusCode === 401
  )
    return new PairlinkError(
      'UNAUTHORIZED',
      `${service} refused the token: check the token's environment variable or file`,
    );
  return new PairlinkError('INTERNAL', `${service}: ${String(e.message ?? error).slice(0, 300)}`);
}
