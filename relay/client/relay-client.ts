import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { z } from 'zod';
import { encodeBase64url as b64, decodeBase64url } from '../../src/encoding/base64url.js';
import { PairlinkError } from '../../src/errors.js';
import { bareHost } from '../../src/invite/relay-policy.js';
import {
  claimAnswer,
  createdAnswer,
  decodeAnswer,
  decodeAnswerBytes,
  deletedAnswer,
  nameplateAnswer,
  postedAnswer,
  readAnswer,
  readyAnswer,
  relayRefusalCode,
} from '../wire/relay-answers.js';
import { capabilityHash, type RelayEndpoint, type RelayMessage } from './relay-endpoint.js';
import { RelayAnswerError, relayConnectionError } from './relay-failure.js';

/** Relay answers are small JSON documents; the largest is a read of 64 messages of 16 KiB. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/**
 * HTTP client of the relay API (docs/RELAY.md). Every request has a timeout, every answer is
 * decoded by a schema (relay-answers.ts). Failures become PairlinkErrors with stable codes:
 * RELAY_UNREACHABLE, RELAY_PROTOCOL, INVITE_NOT_FOUND (unknown, expired or wrong capability: the
 * relay does not say which), CROWDED, RATE_LIMITED, TOO_LARGE.
 */
export class RelayClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly lookup: LookupFunction | undefined;
  /** When the relay last answered as a relay does (Unix ms); undefined until it has. */
  answeredAt: number | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
    endpoint: RelayEndpoint = {},
  ) {
    this.base = new URL(baseUrl);
    this.lookup = endpoint.lookup;
    this.transport = this.base.protocol === 'https:' ? https : http;
    // node:http with keep-alive: ~7x the requests per second of fetch() here (bench/relay.ts).
    this.agent = new this.transport.Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(endpoint.ca ? { ca: [...endpoint.ca] } : {}),
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    options: { cap?: Uint8Array; json?: object; body?: Uint8Array; timeoutMs?: number } = {},
  ): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (options.cap) headers.authorization = `Bearer ${b64(options.cap)}`;
    let body: Buffer | undefined;
    if (options.json) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(options.json));
    } else if (options.body) {
      headers['content-type'] = 'application/octet-stream';
      body = Buffer.from(options.body);
    }
    if (body) headers['content-length'] = String(body.length);
    const basePath = this.base.pathname.replace(/\/$/, '');
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | null, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error) reject(error);
        else resolve(value);
      };
      const unreachable = (reason: string) =>
        settle(new PairlinkError('RELAY_UNREACHABLE', `relay ${this.base.origin}: ${reason}`));
      const request = this.transport.request(
        {
          // Unbracketed: node:http passes `[::1]` to getaddrinfo as a name (ENOTFOUND).
          host: bareHost(this.base.hostname),
          port: this.base.port,
          path: basePath + path,
          method,
          headers,
          agent: this.agent,
          ...(this.lookup ? { lookup: this.lookup } : {}),
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              settle(new PairlinkError('RELAY_PROTOCOL', `relay ${this.baseUrl}: answer too large`));
              request.destroy();
            } else chunks.push(chunk);
          });
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status >= 300) {
              let relayError = '';
              try {
                const parsed = JSON.parse(text) as { error?: unknown };
                if (typeof parsed.error === 'string' && parsed.error.length <= 64) relayError = parsed.error;
              } catch {
                // an error page that is not JSON: the status says enough
              }
              // A refusal in the relay's own words is an answer; an error page (a proxy's) is not.
              if (relayError !== '') this.answeredAt = Date.now();
              // Never followed: a 3xx is a protocol error like any other status we do not expect.
              const code = relayRefusalCode(relayError, status);
              const retry = response.headers['retry-after'];
              settle(
                new RelayAnswerError(
                  code,
                  `relay answered ${status}${relayError ? ` ${relayError}` : ''}${retry ? ` (retry after ${retry} s)` : ''}`,
                  status,
                  relayError,
                ),
              );
              return;
            }
            try {
              settle(null, JSON.parse(text) as unknown);
            } catch {
              settle(
                new PairlinkError(
                  'RELAY_PROTOCOL',
                  `relay ${this.baseUrl}: answered with something that is not JSON`,
                ),
              );
            }
          });
          response.on('error', (error) => unreachable(error.message));
        },
      );
      // One deadline for the whole exchange (connect, send, headers, body), not an idle timer:
      // a relay that trickles one byte a second must not hold a pairing step for ever.
      const deadline = setTimeout(() => {
        unreachable(`no answer within ${timeoutMs} ms`);
        request.destroy();
      }, timeoutMs);
      // A refusal of the address (RELAY_REFUSED from the lookup) stays what it is; a certificate
      // not trusted here is RELAY_UNTRUSTED, an answer that is not HTTP RELAY_PROTOCOL.
      request.on('error', (error) => settle(relayConnectionError(this.base.origin, error)));
      request.end(body);
    });
  }

  /** An answer decoded by its schema; only then has the relay answered as a relay does. */
  private decoded<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
    const answer = decodeAnswer(schema, value, what);
    this.answeredAt = Date.now();
    return answer;
  }

  /** Creates a mailbox whose read (and optionally write) capability hashes the relay will keep. */
  async createMailbox(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array | null,
    ttlSeconds: number,
  ): Promise<number> {
    const result = await this.request('PUT', `/v1/mailboxes/${b64(mailboxId)}`, {
      json: {
        readCapHash: capabilityHash(readCap),
        ...(writeCap ? { writeCapHash: capabilityHash(writeCap) } : {}),
        ttlSeconds,
      },
    });
    return this.decoded(createdAnswer, result, 'mailbox').expiresAt;
  }

  async post(mailboxId: Uint8Array, writeCap: Uint8Array, body: Uint8Array): Promise<number> {
    const result = await this.request('POST', `/v1/mailboxes/${b64(mailboxId)}/messages`, {
      cap: writeCap,
      body,
    });
    return this.decoded(postedAnswer, result, 'post').seq;
  }

  /** Messages after `afterSeq`; waits up to `waitSeconds` for one (long-poll fallback). */
  async read(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    afterSeq = 0,
    waitSeconds = 0,
  ): Promise<RelayMessage[]> {
    const result = await this.request(
      'GET',
      `/v1/mailboxes/${b64(mailboxId)}/messages?after=${afterSeq}&wait=${waitSeconds}`,
      {
        cap: readCap,
        timeoutMs: this.timeoutMs + waitSeconds * 1000,
      },
    );
    return this.decoded(readAnswer, result, 'read').messages.map((m) => ({
      seq: m.seq,
      body: decodeBase64url(m.body, 64 * 1024),
    }));
  }

  async deleteMailbox(mailboxId: Uint8Array, readCap: Uint8Array): Promise<void> {
    const result = await this.request('DELETE', `/v1/mailboxes/${b64(mailboxId)}`, { cap: readCap });
    this.decoded(deletedAnswer, result, 'delete');
  }

  async createNameplate(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    maxClaims: number,
  ): Promise<{ nameplate: string; expiresAt: number }> {
    const result = await this.request('POST', `/v1/mailboxes/${b64(mailboxId)}/nameplate`, {
      cap: readCap,
      json: { maxClaims },
    });
    return this.decoded(nameplateAnswer, result, 'nameplate');
  }

  /**
   * When the relay's store began to hold its mailboxes (Unix ms), if it says: a memory relay's
   * start, before which every mailbox was lost. Undefined for a durable store or an older relay.
   */
  async storeSince(): Promise<number | undefined> {
    const result = await this.request('GET', '/readyz');
    return this.decoded(readyAnswer, result, 'readiness').storeSince;
  }

  async claimNameplate(
    nameplate: string,
  ): Promise<{ mailboxId: Uint8Array; writeCap: Uint8Array; expiresAt: number }> {
    const result = await this.request('POST', `/v1/nameplates/${encodeURIComponent(nameplate)}/claim`);
    const claim = this.decoded(claimAnswer, result, 'claim');
    return {
      mailboxId: decodeAnswerBytes(claim.mailbox),
      writeCap: decodeAnswerBytes(claim.writeCap),
      expiresAt: claim.expiresAt,
    };
  }

  /**
   * One exchange whose answer `schema` decodes, with this client's deadline and refusals: for the
   * requests kept beside this class (inbox-requests.ts).
   */
  async exchange<T>(
    method: string,
    path: string,
    options: { cap?: Uint8Array; json?: object },
    schema: z.ZodType<T>,
    what: string,
  ): Promise<T> {
    return this.decoded(schema, await this.request(method, path, options), what);
  }
}
