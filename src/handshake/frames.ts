import { ED25519_SIGNATURE_LENGTH } from '../crypto/ed25519.js';
import { ByteReader, ByteWriter } from '../encoding/binary.js';
import { type ErrorCode, PairlinkError } from '../errors.js';
import { MAX_CARD_BYTES } from '../identity/card.js';
import { CAPABILITY_LENGTH, MAILBOX_ID_LENGTH } from '../invite/invite-url.js';
import type { InviteForm } from './transcript.js';

export const FRAME_VERSION = 1;
/** No pairing frame is larger; the relay's own cap (16 KiB) is looser. */
export const MAX_FRAME_BYTES = 4096;
export const SESSION_ID_LENGTH = 16;
export const SHARE_LENGTH = 32;
export const TAG_LENGTH = 32;
const POLY1305_TAG_LENGTH = 16;

export const FRAME_TYPE = {
  hello: 1,
  reply: 2,
  confirm: 3,
  welcome: 4,
  abort: 5,
  ack: 6,
  sealedAbort: 7,
  /** An agent's inbox and next-key commitment (§11.1; src/notice/inbox.ts builds and opens it). */
  inbox: 8,
} as const;

/** Why a session was abandoned; sent in the clear in an abort frame (it is not secret). */
export const ABORT_REASONS = [
  'WRONG_CODE',
  'INVITE_EXPIRED',
  'INVITE_USED',
  'INVITE_CANCELLED',
  'SAS_REJECTED',
  'PROTOCOL_ERROR',
  'SELF_PAIRING',
  'BAD_SIGNATURE',
  'TIMEOUT',
  'CROWDED',
  'PEER_REMOVED',
] as const satisfies readonly ErrorCode[];
export type AbortReason = (typeof ABORT_REASONS)[number];

/** A relay mailbox and the capability to write to it. */
export interface MailboxAddress {
  readonly mailboxId: Uint8Array;
  readonly writeCapability: Uint8Array;
}

export type Frame =
  | {
      readonly type: 'hello';
      readonly form: InviteForm;
      readonly sessionId: Uint8Array;
      readonly share: Uint8Array;
      readonly replyTo: MailboxAddress;
    }
  | {
      readonly type: 'reply';
      readonly sessionId: Uint8Array;
      readonly share: Uint8Array;
      readonly sealed: Uint8Array;
    }
  | { readonly type: 'confirm'; readonly sessionId: Uint8Array; readonly sealed: Uint8Array }
  | { readonly type: 'welcome'; readonly sessionId: Uint8Array; readonly sealed: Uint8Array }
  | { readonly type: 'abort'; readonly sessionId: Uint8Array; readonly reason: AbortReason }
  /** The acceptor's proof that it pinned the issuer (sealed, empty body). */
  | { readonly type: 'ack'; readonly sessionId: Uint8Array; readonly sealed: Uint8Array }
  /** An abort after key confirmation, sealed so the relay cannot forge it (body: u8 reason). */
  | { readonly type: 'sealedAbort'; readonly sessionId: Uint8Array; readonly sealed: Uint8Array }
  /**
   * A side's inbox (§11.1), sealed. Any length here: its opener bounds it, so that a frame of a
   * known session is never taken for junk (a code invite counts junk as guesses).
   */
  | { readonly type: 'inbox'; readonly sessionId: Uint8Array; readonly sealed: Uint8Array };

const FORM_CODE = { url: 1, code: 2 } as const;

/** Encodes a frame: version, type, session id, then the type's fields. */
export function encodeFrame(frame: Frame): Uint8Array {
  const writer = new ByteWriter()
    .u8(FRAME_VERSION)
    .u8(FRAME_TYPE[frame.type])
    .fixed(frame.sessionId, SESSION_ID_LENGTH);
  switch (frame.type) {
    case 'hello':
      writer
        .u8(FORM_CODE[frame.form])
        .fixed(frame.share, SHARE_LENGTH)
        .fixed(frame.replyTo.mailboxId, MAILBOX_ID_LENGTH)
        .fixed(frame.replyTo.writeCapability, CAPABILITY_LENGTH);
      break;
    case 'reply':
      writer.fixed(frame.share, SHARE_LENGTH).raw(frame.sealed);
      break;
    case 'confirm':
    case 'welcome':
    case 'ack':
    case 'sealedAbort':
    case 'inbox':
      writer.raw(frame.sealed);
      break;
    case 'abort':
      writer.u8(ABORT_REASONS.indexOf(frame.reason) + 1);
      break;
  }
  const bytes = writer.finish();
  if (bytes.length > MAX_FRAME_BYTES) throw new RangeError('frame too large');
  return bytes;
}

/** Decodes a frame from the relay strictly: size first, then version, type and exact layout. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_BYTES) throw new PairlinkError('TOO_LARGE', 'frame too large');
  const reader = new ByteReader(bytes, 'frame');
  const version = reader.u8();
  if (version !== FRAME_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', `frame version ${version}`);
  const type = reader.u8();
  const sessionId = Uint8Array.from(reader.fixed(SESSION_ID_LENGTH));
  switch (type) {
    case FRAME_TYPE.hello: {
      const formCode = reader.u8();
      const form = formCode === FORM_CODE.url ? 'url' : formCode === FORM_CODE.code ? 'code' : null;
      if (form === null) throw new PairlinkError('MALFORMED', 'frame: unknown invite form');
      const share = Uint8Array.from(reader.fixed(SHARE_LENGTH));
      const mailboxId = Uint8Array.from(reader.fixed(MAILBOX_ID_LENGTH));
      const writeCapability = Uint8Array.from(reader.fixed(CAPABILITY_LENGTH));
      reader.end();
      return { type: 'hello', form, sessionId, share, replyTo: { mailboxId, writeCapability } };
    }
    case FRAME_TYPE.reply: {
      const share = Uint8Array.from(reader.fixed(SHARE_LENGTH));
      return { type: 'reply', sessionId, share, sealed: sealedRest(reader) };
    }
    case FRAME_TYPE.confirm:
      return { type: 'confirm', sessionId, sealed: sealedRest(reader) };
    case FRAME_TYPE.welcome:
      return { type: 'welcome', sessionId, sealed: sealedRest(reader) };
    case FRAME_TYPE.ack:
      return { type: 'ack', sessionId, sealed: sealedExactly(reader, 0) };
    case FRAME_TYPE.sealedAbort:
      return { type: 'sealedAbort', sessionId, sealed: sealedExactly(reader, 1) };
    case FRAME_TYPE.inbox:
      return { type: 'inbox', sessionId, sealed: sealedRest(reader) };
    case FRAME_TYPE.abort: {
      const reason = ABORT_REASONS[reader.u8() - 1];
      reader.end();
      if (reason === undefined) throw new PairlinkError('MALFORMED', 'frame: unknown abort reason');
      return { type: 'abort', sessionId, reason };
    }
    default:
      throw new PairlinkError('MALFORMED', `frame: unknown type ${type}`);
  }
}

function sealedRest(reader: ByteReader): Uint8Array {
  if (reader.remaining < POLY1305_TAG_LENGTH)
    throw new PairlinkError('MALFORMED', 'frame: truncated ciphertext');
  return Uint8Array.from(reader.rest());
}

/** A sealed field of exactly `plaintextBytes` bytes (plus the Poly1305 tag) and nothing after it. */
function sealedExactly(reader: ByteReader, plaintextBytes: number): Uint8Array {
  const sealed = Uint8Array.from(reader.fixed(POLY1305_TAG_LENGTH + plaintextBytes));
  reader.end();
  return sealed;
}

/** The body of a sealed abort: one reason byte, as in a clear abort. */
export function encodeAbortReason(reason: AbortReason): Uint8Array {
  return Uint8Array.of(ABORT_REASONS.indexOf(reason) + 1);
}

/** Reads a sealed abort's body (after it opened): one known reason byte. */
export function decodeAbortReason(bytes: Uint8Array): AbortReason {
  const reason = bytes.length === 1 ? ABORT_REASONS[bytes[0]! - 1] : undefined;
  if (reason === undefined) throw new PairlinkError('MALFORMED', 'sealed abort: unknown reason');
  return reason;
}

const REPLY_FLAG_DEVICE = 0x01;
const REPLY_FLAG_REQUIRE_SAS = 0x02;

/** What the issuer seals into its reply. */
export interface ReplyBody {
  readonly mode: 'peer' | 'device';
  readonly requireSas: boolean;
  readonly card: Uint8Array;
  readonly signature: Uint8Array;
  readonly tag: Uint8Array;
}

export function encodeReplyBody(body: ReplyBody): Uint8Array {
  const flags =
    (body.mode === 'device' ? REPLY_FLAG_DEVICE : 0) | (body.requireSas ? REPLY_FLAG_REQUIRE_SAS : 0);
  return new ByteWriter()
    .u8(flags)
    .long(body.card)
    .fixed(body.signature, ED25519_SIGNATURE_LENGTH)
    .fixed(body.tag, TAG_LENGTH)
    .finish();
}

export function decodeReplyBody(bytes: Uint8Array): ReplyBody {
  const reader = new ByteReader(bytes, 'reply');
  const flags = reader.u8();
  if ((flags & ~(REPLY_FLAG_DEVICE | REPLY_FLAG_REQUIRE_SAS)) !== 0)
    throw new PairlinkError('MALFORMED', 'reply: unknown flags');
  const card = Uint8Array.from(reader.long(MAX_CARD_BYTES));
  const signature = Uint8Array.from(reader.fixed(ED25519_SIGNATURE_LENGTH));
  const tag = Uint8Array.from(reader.fixed(TAG_LENGTH));
  reader.end();
  return {
    mode: flags & REPLY_FLAG_DEVICE ? 'device' : 'peer',
    requireSas: (flags & REPLY_FLAG_REQUIRE_SAS) !== 0,
    card,
    signature,
    tag,
  };
}

/** What the acceptor seals into its confirm. */
export interface ConfirmBody {
  readonly card: Uint8Array;
  readonly signature: Uint8Array;
  readonly tag: Uint8Array;
}

export function encodeConfirmBody(body: ConfirmBody): Uint8Array {
  return new ByteWriter()
    .long(body.card)
    .fixed(body.signature, ED25519_SIGNATURE_LENGTH)
    .fixed(body.tag, TAG_LENGTH)
    .finish();
}

export function decodeConfirmBody(bytes: Uint8Array): ConfirmBody {
  const reader = new ByteReader(bytes, 'confirm');
  const card = Uint8Array.from(reader.long(MAX_CARD_BYTES));
  const signature = Uint8Array.from(reader.fixed(ED25519_SIGNATURE_LENGTH));
  const tag = Uint8Array.from(reader.fixed(TAG_LENGTH));
  reader.end();
  return { card, signature, tag };
}

/** What the issuer seals into its welcome: its signature over th2 and, in device mode, the bundle. */
export interface WelcomeBody {
  readonly signature: Uint8Array;
  readonly bundle: Uint8Array;
}

export function encodeWelcomeBody(body: WelcomeBody): Uint8Array {
  return new ByteWriter().fixed(body.signature, ED25519_SIGNATURE_LENGTH).long(body.bundle).finish();
}

export function decodeWelcomeBody(bytes: Uint8Array): WelcomeBody {
  const reader = new ByteReader(bytes, 'welcome');
  const signature = Uint8Array.from(reader.fixed(ED25519_SIGNATURE_LENGTH));
  const bundle = Uint8Array.from(reader.long(1024));
  reader.end();
  return { signature, bundle };
}
