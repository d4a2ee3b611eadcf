import { ED25519_SIGNATURE_LENGTH, verifyEd25519 } from '../crypto/ed25519.js';
import { hashSha256, hkdfExpandLabel, hkdfExtract } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import { decodeBase64url, encodeBase64url } from '../encoding/base64url.js';
import { ByteReader, ByteWriter, concatBytes, decodeUtf8, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { checkRelayUrl, MAX_RELAY_URL_BYTES } from '../identity/card.js';
import { encodeDidKey, type Identity } from '../identity/identity.js';
import { ALLOWED_CLOCK_SKEW_SECONDS, type InviteMode, MAX_INVITE_USES } from './invite-policy.js';

export const INVITE_VERSION = 1;
export const INVITE_SECRET_LENGTH = 16;
export const MAILBOX_ID_LENGTH = 16;
export const CAPABILITY_LENGTH = 16;
export const INVITE_ID_LENGTH = 16;
export const CUSTOM_SCHEME_PREFIX = 'pairlink://invite/';
export const WEB_PATH = '/i#';
/** Hard cap on invite text accepted from anywhere (chat, CLI, RPC). */
export const MAX_INVITE_TEXT_LENGTH = 1024;

const FLAG_DEVICE = 0x01;
const FLAG_REQUIRE_SAS = 0x02;
const FLAG_RELAY_OMITTED = 0x80;
const KNOWN_FLAGS = FLAG_DEVICE | FLAG_REQUIRE_SAS | FLAG_RELAY_OMITTED;
const MAX_PAYLOAD_BYTES = 1 + 1 + 32 + 4 + 2 + INVITE_SECRET_LENGTH + 1 + MAX_RELAY_URL_BYTES + 64;

/** What an issuer puts into an invite URL. */
export interface UrlInviteFields {
  readonly mode: InviteMode;
  readonly requireSas: boolean;
  readonly relayUrl: string;
  /** Seconds since the Unix epoch. */
  readonly expiresAt: number;
  readonly uses: number;
  /** The 128-bit bearer secret; it never reaches the relay. */
  readonly secret: Uint8Array;
}

/** A verified invite URL with everything derived from it. */
export interface UrlInvite extends UrlInviteFields {
  readonly version: number;
  readonly issuerKey: Uint8Array;
  readonly issuerDid: string;
  /** Relay mailbox the acceptor writes to, derived from the secret (one-way). */
  readonly mailboxId: Uint8Array;
  /** Per-invite write capability for that mailbox, derived from the secret (one-way). */
  readonly writeCapability: Uint8Array;
  /** Binds the whole signed invite into the handshake transcript. */
  readonly inviteId: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * The mailbox id and write capability follow from the secret by HKDF, so the URL stays short and
 * the relay, which learns both when the acceptor writes, still cannot recover the secret.
 */
export function deriveUrlMailbox(secret: Uint8Array): { mailboxId: Uint8Array; writeCapability: Uint8Array } {
  const prk = hkdfExtract(secret, new Uint8Array(32));
  return {
    mailboxId: hkdfExpandLabel(prk, LABELS.urlMailbox, MAILBOX_ID_LENGTH),
    writeCapability: hkdfExpandLabel(prk, LABELS.urlWriteCapability, CAPABILITY_LENGTH),
  };
}

function flagsOf(fields: UrlInviteFields): number {
  return (fields.mode === 'device' ? FLAG_DEVICE : 0) | (fields.requireSas ? FLAG_REQUIRE_SAS : 0);
}

/** The canonical signed body: the same bytes whichever URL form carries the invite. */
function signedBody(issuerKey: Uint8Array, fields: UrlInviteFields): Uint8Array {
  return new ByteWriter()
    .u8(INVITE_VERSION)
    .u8(flagsOf(fields))
    .fixed(issuerKey, 32)
    .u32(fields.expiresAt)
    .u16(fields.uses)
    .fixed(fields.secret, INVITE_SECRET_LENGTH)
    .short(utf8(fields.relayUrl))
    .finish();
}

function signedMessage(body: Uint8Array): Uint8Array {
  return concatBytes(utf8(LABELS.inviteSignature), Uint8Array.of(0), body);
}

function completeInvite(issuerKey: Uint8Array, fields: UrlInviteFields, signature: Uint8Array): UrlInvite {
  const body = signedBody(issuerKey, fields);
  return {
    ...fields,
    version: INVITE_VERSION,
    issuerKey,
    issuerDid: encodeDidKey(issuerKey),
    ...deriveUrlMailbox(fields.secret),
    inviteId: hashSha256(concatBytes(utf8(LABELS.inviteId), Uint8Array.of(0), body)).subarray(
      0,
      INVITE_ID_LENGTH,
    ),
    signature,
  };
}

function checkFields(fields: UrlInviteFields): void {
  checkRelayUrl(fields.relayUrl);
  if (fields.secret.length !== INVITE_SECRET_LENGTH) throw new RangeError('invite secret must be 16 bytes');
  if (!Number.isInteger(fields.uses) || fields.uses < 1 || fields.uses > MAX_INVITE_USES) {
    throw new PairlinkError('INVALID_PARAMS', `uses must be 1 to ${MAX_INVITE_USES}`);
  }
  if (!Number.isInteger(fields.expiresAt) || fields.expiresAt < 0 || fields.expiresAt > 0xffffffff) {
    throw new PairlinkError('INVALID_PARAMS', 'expiry out of range');
  }
}

/** Signs an invite with the issuer's identity key. */
export function signUrlInvite(identity: Identity, fields: UrlInviteFields): UrlInvite {
  checkFields(fields);
  const issuerKey = identity.signing.publicKey;
  const signature = identity.signing.sign(signedMessage(signedBody(issuerKey, fields)));
  return completeInvite(issuerKey, fields, signature);
}

function payload(invite: UrlInvite, omitRelay: boolean): string {
  const bytes = new ByteWriter()
    .u8(INVITE_VERSION)
    .u8(flagsOf(invite) | (omitRelay ? FLAG_RELAY_OMITTED : 0))
    .fixed(invite.issuerKey, 32)
    .u32(invite.expiresAt)
    .u16(invite.uses)
    .fixed(invite.secret, INVITE_SECRET_LENGTH)
    .short(omitRelay ? new Uint8Array() : utf8(invite.relayUrl))
    .fixed(invite.signature, ED25519_SIGNATURE_LENGTH)
    .finish();
  return encodeBase64url(bytes);
}

/** `pairlink://invite/<payload>`: for deep links on machines with the URL handler installed. */
export function formatCustomSchemeUrl(invite: UrlInvite): string {
  return CUSTOM_SCHEME_PREFIX + payload(invite, false);
}

/**
 * `<relay>/i#<payload>`: a web link whose payload, secret included, sits in the fragment, which
 * browsers never send to the server. The relay URL is the link's own prefix, so it is not repeated.
 */
export function formatWebUrl(invite: UrlInvite): string {
  return invite.relayUrl + WEB_PATH + payload(invite, true);
}

/** True when `text` looks like an invite URL rather than a short code. */
export function looksLikeInviteUrl(text: string): boolean {
  return text.includes('://');
}

/**
 * Parses and verifies an invite URL entirely locally, before any network call: size, form,
 * canonical encoding, version, flags, relay URL, issuer key and signature, then expiry at `now`.
 */
export function parseInviteUrl(text: string, now: number): UrlInvite {
  if (typeof text !== 'string') throw new PairlinkError('MALFORMED', 'invite must be text');
  if (text.length > MAX_INVITE_TEXT_LENGTH) throw new PairlinkError('TOO_LARGE', 'invite text is too long');
  let encoded: string;
  let relayFromUrl: string | null = null;
  if (text.startsWith(CUSTOM_SCHEME_PREFIX)) {
    encoded = text.slice(CUSTOM_SCHEME_PREFIX.length);
  } else {
    const at = text.indexOf(WEB_PATH);
    if (at < 0 || !/^https?:\/\//.test(text))
      throw new PairlinkError('MALFORMED', 'not a pairlink invite URL');
    relayFromUrl = text.slice(0, at);
    encoded = text.slice(at + WEB_PATH.length);
    try {
      checkRelayUrl(relayFromUrl);
    } catch {
      throw new PairlinkError('MALFORMED', 'invite URL has a malformed relay address');
    }
  }
  const reader = new ByteReader(decodeBase64url(encoded, MAX_PAYLOAD_BYTES), 'invite');
  const version = reader.u8();
  // Only a version above ours is a newer pairlink's; any other is not an invite at all.
  if (version > INVITE_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', `invite version ${version}`);
  if (version !== INVITE_VERSION) throw new PairlinkError('MALFORMED', `invite version ${version}`);
  const flags = reader.u8();
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new PairlinkError('UNSUPPORTED_VERSION', 'invite uses unknown flags');
  const issuerKey = Uint8Array.from(reader.fixed(32));
  const expiresAt = reader.u32();
  const uses = reader.u16();
  const secret = Uint8Array.from(reader.fixed(INVITE_SECRET_LENGTH));
  const embeddedRelay = decodeUtf8(reader.short(MAX_RELAY_URL_BYTES), 'invite relay');
  const signature = Uint8Array.from(reader.fixed(ED25519_SIGNATURE_LENGTH));
  reader.end();
  // The web form must omit the relay (it is the URL's prefix); the custom form must carry it.
  const omitted = (flags & FLAG_RELAY_OMITTED) !== 0;
  if (omitted !== (relayFromUrl !== null) || (omitted && embeddedRelay !== '')) {
    throw new PairlinkError('MALFORMED', 'invite relay field does not match the URL form');
  }
  const relayUrl = relayFromUrl ?? embeddedRelay;
  const fields: UrlInviteFields = {
    mode: flags & FLAG_DEVICE ? 'device' : 'peer',
    requireSas: (flags & FLAG_REQUIRE_SAS) !== 0,
    relayUrl,
    expiresAt,
    uses,
    secret,
  };
  try {
    checkFields(fields);
  } catch {
    throw new PairlinkError('MALFORMED', 'invite fields are out of range');
  }
  if (!verifyEd25519(issuerKey, signedMessage(signedBody(issuerKey, fields)), signature)) {
    throw new PairlinkError('BAD_SIGNATURE', 'invite signature does not verify');
  }
  // The issuer decides expiry by its own clock; an acceptor's clock that runs a little ahead
  // (ALLOWED_CLOCK_SKEW_SECONDS) does not refuse an invite the issuer would still take.
  if (now >= expiresAt + ALLOWED_CLOCK_SKEW_SECONDS)
    throw new PairlinkError('INVITE_EXPIRED', 'invite has expired');
  return completeInvite(issuerKey, fields, signature);
}
