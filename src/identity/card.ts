import { ED25519_SIGNATURE_LENGTH, verifyEd25519 } from '../crypto/ed25519.js';
import { LABELS } from '../crypto/labels.js';
import { X25519_KEY_LENGTH } from '../crypto/x25519.js';
import { ByteReader, ByteWriter, concatBytes, decodeUtf8, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { encodeDidKey, type Identity } from './identity.js';

export const CARD_VERSION = 1;
export const MAX_NAME_BYTES = 64;
export const MAX_RELAY_URL_BYTES = 200;
export const MAX_CARD_BYTES = 1 + 32 + 32 + 4 + 1 + MAX_NAME_BYTES + 1 + MAX_RELAY_URL_BYTES + 64;

/** A verified agent card: who a peer says it is, signed by its identity key. */
export interface Card {
  readonly version: number;
  readonly did: string;
  readonly signingKey: Uint8Array;
  readonly agreementKey: Uint8Array;
  readonly name: string;
  readonly relayUrl: string;
  /** Seconds since the Unix epoch. */
  readonly createdAt: number;
  /** The exact signed encoding, as sent on the wire and bound into transcripts. */
  readonly bytes: Uint8Array;
}

// Bidirectional overrides/isolates could make one name display as another; control characters
// could forge extra lines in logs and chat. Neither belongs in a display name.
const FORBIDDEN_NAME_CHARS = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Validates a display name (1–64 UTF-8 bytes, NFC, no control or bidi-override characters). */
export function checkDisplayName(name: string): string {
  const bytes = utf8(name).length;
  if (bytes === 0 || bytes > MAX_NAME_BYTES || name.trim() !== name) {
    throw new PairlinkError('INVALID_PARAMS', `a name is 1 to ${MAX_NAME_BYTES} bytes with no outer spaces`);
  }
  if (name.normalize('NFC') !== name || FORBIDDEN_NAME_CHARS.test(name)) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      'a name may not contain control or direction-override characters',
    );
  }
  return name;
}

/**
 * Checks that a relay URL is in canonical form: http(s), no credentials, query or fragment, no
 * trailing slash, and equal to what the WHATWG URL parser makes of it. Canonical form matters
 * because relay URLs are signed: one relay must have exactly one accepted spelling.
 */
export function checkRelayUrl(relayUrl: string): string {
  let parsed: URL;
  try {
    parsed = new URL(relayUrl);
  } catch {
    throw new PairlinkError('INVALID_PARAMS', 'relay URL is not a URL');
  }
  const canonical = `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
  if (
    (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') ||
    parsed.username !== '' ||
    parsed.password !== '' ||
    parsed.search !== '' ||
    parsed.hash !== '' ||
    canonical !== relayUrl ||
    utf8(relayUrl).length > MAX_RELAY_URL_BYTES
  ) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      'relay URL must be canonical http(s)://host[:port][/path] without a trailing slash',
    );
  }
  return relayUrl;
}

function cardBody(card: Omit<Card, 'bytes' | 'did' | 'version'>): Uint8Array {
  return new ByteWriter()
    .u8(CARD_VERSION)
    .fixed(card.signingKey, 32)
    .fixed(card.agreementKey, X25519_KEY_LENGTH)
    .u32(card.createdAt)
    .short(utf8(card.name))
    .short(utf8(card.relayUrl))
    .finish();
}

function signedMessage(body: Uint8Array): Uint8Array {
  return concatBytes(utf8(LABELS.cardSignature), Uint8Array.of(0), body);
}

/** Issues this identity's card. */
export function issueCard(identity: Identity, name: string, relayUrl: string, createdAt: number): Card {
  checkDisplayName(name);
  if (relayUrl !== '') checkRelayUrl(relayUrl);
  const fields = {
    signingKey: identity.signing.publicKey,
    agreementKey: identity.agreement.publicKey,
    name,
    relayUrl,
    createdAt,
  };
  const body = cardBody(fields);
  const signature = identity.signing.sign(signedMessage(body));
  return { ...fields, version: CARD_VERSION, did: identity.did, bytes: concatBytes(body, signature) };
}

/** Decodes and verifies a card: strict layout, strict key, valid name and relay URL, good signature. */
export function verifyCard(bytes: Uint8Array): Card {
  const { card, signedBody, signature } = decodeCard(bytes);
  if (!verifyEd25519(card.signingKey, signedMessage(signedBody), signature)) {
    throw new PairlinkError('BAD_SIGNATURE', 'card signature does not verify');
  }
  return card;
}

/**
 * Reads a card this process verified earlier and kept in its own state, without paying for the
 * signature check again. Never use it on bytes from the network: use `verifyCard`.
 */
export function readVerifiedCard(bytes: Uint8Array): Card {
  return decodeCard(bytes).card;
}

function decodeCard(bytes: Uint8Array): { card: Card; signedBody: Uint8Array; signature: Uint8Array } {
  if (bytes.length > MAX_CARD_BYTES) throw new PairlinkError('TOO_LARGE', 'card too large');
  const reader = new ByteReader(bytes, 'card');
  const version = reader.u8();
  if (version !== CARD_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', `card version ${version}`);
  const signingKey = Uint8Array.from(reader.fixed(32));
  const agreementKey = Uint8Array.from(reader.fixed(X25519_KEY_LENGTH));
  const createdAt = reader.u32();
  const name = decodeUtf8(reader.short(MAX_NAME_BYTES), 'card name');
  const relayUrl = decodeUtf8(reader.short(MAX_RELAY_URL_BYTES), 'card relay');
  const bodyLength = bytes.length - reader.remaining;
  const signature = reader.fixed(ED25519_SIGNATURE_LENGTH);
  reader.end();
  try {
    checkDisplayName(name);
    if (relayUrl !== '') checkRelayUrl(relayUrl);
  } catch (error) {
    throw new PairlinkError('MALFORMED', `card: ${(error as Error).message}`);
  }
  const card: Card = {
    version,
    did: encodeDidKey(signingKey),
    signingKey,
    agreementKey,
    name,
    relayUrl,
    createdAt,
    bytes: Uint8Array.from(bytes),
  };
  return { card, signedBody: bytes.subarray(0, bodyLength), signature };
}
