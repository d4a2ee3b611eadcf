import { equalBytesConstantTime } from '../crypto/constant-time.js';
import { type DirectionKey, openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { ByteReader, ByteWriter, decodeUtf8, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { FRAME_TYPE, FRAME_VERSION, SESSION_ID_LENGTH } from '../handshake/frames.js';
import { checkRelayUrl, MAX_RELAY_URL_BYTES } from '../identity/card.js';
import { CAPABILITY_LENGTH, MAILBOX_ID_LENGTH } from '../invite/invite-url.js';
import { NEXT_KEY_COMMITMENT_LENGTH } from './rotation.js';

/**
 * An agent's inbox as one peer knows it, and the handshake's inbox frame that hands it over
 * (docs/PROTOCOL.md §11.1). The write capability is drawn for that peer alone, so one peer can be
 * cut off at the relay without touching the others.
 */
export interface Inbox {
  /** Canonical, never empty: where the inbox lives. */
  readonly relayUrl: string;
  readonly mailboxId: Uint8Array;
  /** This peer's own capability to post to the inbox. */
  readonly writeCapability: Uint8Array;
}

/** What each side of a pairing hands the other in its inbox frame. */
export interface InboxExtension {
  /** SHA-256 commitment to the sender's next signing key (§11.6). */
  readonly nextKeyCommitment: Uint8Array;
  readonly inbox: Inbox;
}

export const INBOX_VERSION = 1;
/** The handshake frame type of the inbox frame; also its nonce's first byte. */
export const INBOX_FRAME_TYPE = FRAME_TYPE.inbox;
export const MAX_INBOX_BYTES = 1 + 1 + MAX_RELAY_URL_BYTES + MAILBOX_ID_LENGTH + CAPABILITY_LENGTH;
export const MAX_INBOX_EXTENSION_BYTES = 1 + NEXT_KEY_COMMITMENT_LENGTH + MAX_INBOX_BYTES;
const POLY1305_TAG_LENGTH = 16;
const FRAME_HEAD_LENGTH = 2 + SESSION_ID_LENGTH;
export const MAX_INBOX_FRAME_BYTES = FRAME_HEAD_LENGTH + POLY1305_TAG_LENGTH + MAX_INBOX_EXTENSION_BYTES;

function writeInbox(writer: ByteWriter, inbox: Inbox): ByteWriter {
  checkRelayUrl(inbox.relayUrl);
  return writer
    .u8(INBOX_VERSION)
    .short(utf8(inbox.relayUrl))
    .fixed(inbox.mailboxId, MAILBOX_ID_LENGTH)
    .fixed(inbox.writeCapability, CAPABILITY_LENGTH);
}

/** Reads an inbox: version, then a canonical non-empty relay URL, mailbox id and capability. */
function readInbox(reader: ByteReader): Inbox {
  const version = reader.u8();
  if (version !== INBOX_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', `inbox version ${version}`);
  const relayUrl = decodeUtf8(reader.short(MAX_RELAY_URL_BYTES), 'inbox relay');
  try {
    checkRelayUrl(relayUrl);
  } catch {
    // The peer's own mistake or a forgery: malformed input, not a request the user got wrong.
    throw new PairlinkError('MALFORMED', 'inbox: relay URL is not canonical');
  }
  const mailboxId = Uint8Array.from(reader.fixed(MAILBOX_ID_LENGTH));
  const writeCapability = Uint8Array.from(reader.fixed(CAPABILITY_LENGTH));
  return { relayUrl, mailboxId, writeCapability };
}

/** The inbox's bytes, as an inbox-moved notice carries them. */
export function encodeInbox(inbox: Inbox): Uint8Array {
  return writeInbox(new ByteWriter(), inbox).finish();
}

/** Decodes an inbox strictly (size first, no trailing byte). */
export function decodeInbox(bytes: Uint8Array): Inbox {
  if (bytes.length > MAX_INBOX_BYTES) throw new PairlinkError('TOO_LARGE', 'inbox too large');
  const reader = new ByteReader(bytes, 'inbox');
  const inbox = readInbox(reader);
  reader.end();
  return inbox;
}

/** The plaintext of an inbox frame: version, next-key commitment, inbox. */
export function encodeInboxExtension(extension: InboxExtension): Uint8Array {
  const writer = new ByteWriter()
    .u8(INBOX_VERSION)
    .fixed(extension.nextKeyCommitment, NEXT_KEY_COMMITMENT_LENGTH);
  return writeInbox(writer, extension.inbox).finish();
}

/** Decodes an inbox frame's plaintext strictly. */
export function decodeInboxExtension(bytes: Uint8Array): InboxExtension {
  if (bytes.length > MAX_INBOX_EXTENSION_BYTES)
    throw new PairlinkError('TOO_LARGE', 'inbox extension too large');
  const reader = new ByteReader(bytes, 'inbox extension');
  const version = reader.u8();
  if (version !== INBOX_VERSION)
    throw new PairlinkError('UNSUPPORTED_VERSION', `inbox extension version ${version}`);
  const nextKeyCommitment = Uint8Array.from(reader.fixed(NEXT_KEY_COMMITMENT_LENGTH));
  const inbox = readInbox(reader);
  reader.end();
  return { nextKeyCommitment, inbox };
}

/**
 * The inbox frame of one session and direction (§11.1): sealed like every handshake frame, under
 * the direction's key with the frame type as the nonce, so only the other holder of the session
 * key can make or read it. It is its own frame type, not trailing bytes on the welcome or the ack:
 * an agent of the previous version decodes those exactly and would fail the pairing.
 */
export function buildInboxFrame(
  direction: DirectionKey,
  sessionId: Uint8Array,
  extension: InboxExtension,
): Uint8Array {
  return new ByteWriter()
    .u8(FRAME_VERSION)
    .u8(INBOX_FRAME_TYPE)
    .fixed(sessionId, SESSION_ID_LENGTH)
    .raw(sealFrame(direction, INBOX_FRAME_TYPE, encodeInboxExtension(extension)))
    .finish();
}

/**
 * Opens an inbox frame of this session and direction: the extension, or null when it is not one
 * (another type or session, or it does not open: not from the other side, and ignored like any
 * such frame). TOO_LARGE before anything else; a frame that opens but holds a malformed extension
 * throws MALFORMED (only the other side can have made it).
 */
export function openInboxFrame(
  direction: DirectionKey,
  sessionId: Uint8Array,
  frame: Uint8Array,
): InboxExtension | null {
  if (frame.length > MAX_INBOX_FRAME_BYTES) throw new PairlinkError('TOO_LARGE', 'inbox frame too large');
  if (frame.length < FRAME_HEAD_LENGTH + POLY1305_TAG_LENGTH) return null;
  if (frame[0] !== FRAME_VERSION || frame[1] !== INBOX_FRAME_TYPE) return null;
  if (!equalBytesConstantTime(frame.subarray(2, FRAME_HEAD_LENGTH), sessionId)) return null;
  let plaintext: Uint8Array;
  try {
    plaintext = openFrame(direction, INBOX_FRAME_TYPE, frame.subarray(FRAME_HEAD_LENGTH));
  } catch {
    return null;
  }
  return decodeInboxExtension(plaintext);
}
