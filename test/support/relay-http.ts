import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { capabilityHash } from '../../relay/client/relay-endpoint.js';

/** Raw HTTP helpers for relay API tests: exact statuses, headers and bodies. */
export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** A WebSocket to the relay at `url` (http or https), once open; rejects if it cannot open. */
export function openRelaySocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export interface TestMailbox {
  readonly id: Uint8Array;
  readonly read: Uint8Array;
  readonly write: Uint8Array;
}

export function newMailbox(): TestMailbox {
  return { id: randomBytes(16), read: randomBytes(16), write: randomBytes(16) };
}

/** A relay's answer as the tests read it. */
export interface RelayAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: {
    cap?: Uint8Array;
    json?: unknown;
    body?: Uint8Array | string;
    headers?: Record<string, string>;
  } = {},
): Promise<RelayAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cap) headers.authorization = `Bearer ${b64(options.cap)}`;
  let body: string | Uint8Array | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) body = options.body;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, text, json };
}

export function createBody(box: TestMailbox, ttlSeconds = 60) {
  return { readCapHash: capabilityHash(box.read), writeCapHash: capabilityHash(box.write), ttlSeconds };
}

/** A gauge's value on the relay's /metrics, or undefined when the relay has no such gauge. */
export async function gauge(url: string, name: string): Promise<number | undefined> {
  const { text } = await call(url, 'GET', '/metrics');
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return line ? Number(line[1]) : undefined;
}
