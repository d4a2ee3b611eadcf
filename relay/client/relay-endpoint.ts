import type { LookupFunction } from 'node:net';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { hashCapability } from '../wire/capabilities.js';

/**
 * What a client's two connections to one relay share: how the relay is reached, what a message
 * is, and a capability as the relay keeps it. RelayClient (relay-client.ts) speaks HTTP to it,
 * RelaySocket (relay-socket.ts) a WebSocket.
 */

/** How a client reaches one relay: both its HTTP and its WebSocket connections. */
export interface RelayEndpoint {
  /** Resolves (and checks) the relay's name before each connection (io/relay-lookup.ts). */
  readonly lookup?: LookupFunction | undefined;
  /**
   * The CAs an https/wss relay's certificate may chain to, replacing Node's default list (the
   * agent passes Node's bundled CAs plus the operator's CA file); Node's default when absent.
   */
  readonly ca?: readonly string[] | undefined;
}

/** A relay message as a client sees it. */
export interface RelayMessage {
  readonly seq: number;
  readonly body: Uint8Array;
}

/** SHA-256 of a capability's text form, as the relay stores it. */
export function capabilityHash(capability: Uint8Array): string {
  return hashCapability(encodeBase64url(capability));
}
