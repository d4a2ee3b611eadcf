import { type ErrorCode, PairlinkError } from '../../src/errors.js';
import { relayRefusalCode } from '../wire/relay-answers.js';

/** A relay error answer, with its HTTP status and the relay's error string (for callers that care). */
export class RelayAnswerError extends PairlinkError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly relayError: string,
  ) {
    super(code, message);
  }
}

/** A relay's refusal over the socket, as the same refusal over HTTP (one table: relayRefusalCode). */
export function relayAnswerError(
  error: string,
  status: number | undefined,
  retryAfter: number | undefined,
): Error {
  const code = relayRefusalCode(error, status);
  const retry = retryAfter ? ` (retry after ${retryAfter} s)` : '';
  const answered = status === undefined ? error : `${status} ${error}`;
  return new RelayAnswerError(code, `relay answered ${answered}${retry}`, status ?? 400, error);
}

/**
 * OpenSSL's and Node's codes for a certificate this process does not trust: no CA it knows signed
 * it, it is self-signed, expired or not yet valid, revoked, or for another name. None of them
 * goes away by trying again, so they are RELAY_UNTRUSTED, never RELAY_UNREACHABLE (which the
 * agent retries for an invite's whole life).
 */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Failures of `ws`'s opening handshake that mean the other end answered, but not as a pairlink
 * relay does (ws names them only in the message): a status other than 101, or a broken upgrade.
 */
const NOT_A_RELAY_UPGRADE =
  /^(Unexpected server response|Invalid Sec-WebSocket-Accept|Invalid Upgrade header|Missing Sec-WebSocket-Accept|Server sent)/;

/**
 * A failure to talk to a relay (a connection error, from node:http, node:tls or ws) as one
 * PairlinkError that names the relay and the reason: RELAY_UNTRUSTED for a certificate this agent
 * does not trust, RELAY_PROTOCOL for an answer that is not HTTP, TLS or a WebSocket upgrade as a
 * relay speaks them (a garbage relay, or plain http on an https URL), RELAY_UNREACHABLE for the
 * rest (refused, reset, timed out, no route). A PairlinkError (a refused address) stays as it is.
 */
export function relayConnectionError(origin: string, error: Error): PairlinkError {
  if (error instanceof PairlinkError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (UNTRUSTED_CERTIFICATE.has(code))
    return new PairlinkError(
      'RELAY_UNTRUSTED',
      `relay ${origin}: its certificate is not trusted here (${code}: ${error.message})`,
    );
  if (
    code.startsWith('HPE_') ||
    code.startsWith('WS_ERR_') ||
    code.startsWith('ERR_SSL_') ||
    code === 'EPROTO' ||
    NOT_A_RELAY_UPGRADE.test(error.message)
  )
    return new PairlinkError(
      'RELAY_PROTOCOL',
      `relay ${origin}: answered in a way no pairlink relay does (${firstLine(error.message)})`,
    );
  return new PairlinkError('RELAY_UNREACHABLE', `relay ${origin}: ${firstLine(error.message)}`);
}

/** OpenSSL's messages run over several lines with its source path; the first says what happened. */
function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 200);
}
