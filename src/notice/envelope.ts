import { equalBytesConstantTime } from '../crypto/constant-time.js';
import {
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  type Ed25519SigningKey,
} from '../crypto/ed25519.js';
import { openFrame, sealFrame } from '../crypto/frame-cipher.js';
import { hkdfExpand, hkdfExtract } from '../crypto/hashes.js';
import { LABELS } from '../crypto/labels.js';
import type { RandomSource } from '../crypto/random.js';
import { X25519_KEY_LENGTH, X25519KeyPair } from '../crypto/x25519.js';
import { ByteReader, ByteWriter, concatBytes, lvCat, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { readVerifiedCard } from '../identity/card.js';
import {
  decodeNoticeBody,
  encodeNoticeBody,
  kindCode,
  MAX_NOTICE_BODY_BYTES,
  type NoticeBody,
} from './notice-body.js';

/**
 * The notice envelope (docs/PROTOCOL.md §11.2): signed by the sender's identity (a rotation by the
 * key it reveals), then sealed to the receiver's X25519 key with a fresh ephemeral share, so the
 * relay learns neither who wrote nor what. Building and opening only; whether to believe an opened
 * notice is `judgeNotice`'s (verdict.ts).
 */

/** A notice as both ends read it. */
export interface Notice {
  /** The sender's signing key as the receiver has it pinned (its did). */
  readonly sender: Uint8Array;
  /** The receiver's signing key as the sender has it pinned. */
  readonly receiver: Uint8Array;
  /** The sender's number for this pair, from 1; 0 only in a receipt (§11.4). */
  readonly counter: number;
  readonly sentAt: number;
  readonly expiresAt: number;
  readonly body: NoticeBody;
}

/** A notice that opened and decoded, with what its signature covers; nothing is verified yet. */
export interface OpenedNotice {
  readonly notice: Notice;
  /** The signed bytes (without the label). */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

export const NOTICE_VERSION = 1;
/** The nonce's first byte when a notice is sealed: handshake frames are 1–8. */
export const NOTICE_SEAL_TYPE = 9;
export const MAX_NOTICE_BYTES = 2048;
/** The longest a notice may live (agents use 30 days). */
export const MAX_NOTICE_TTL_SECONDS = 90 * 86_400;
const POLY1305_TAG_LENGTH = 16;
const SEALED_HEAD_LENGTH = 1 + X25519_KEY_LENGTH;

/** The bytes a notice's signature covers, without the label. */
export function encodeSignedNotice(notice: Notice): Uint8Array {
  const body = encodeNoticeBody(notice.body);
  if (body.length > MAX_NOTICE_BODY_BYTES) throw new RangeError('notice body too large');
  return new ByteWriter()
    .u8(NOTICE_VERSION)
    .u8(kindCode(notice.body.kind))
    .fixed(notice.sender, ED25519_PUBLIC_KEY_LENGTH)
    .fixed(notice.receiver, ED25519_PUBLIC_KEY_LENGTH)
    .u32(notice.counter)
    .u32(notice.sentAt)
    .u32(notice.expiresAt)
    .long(body)
    .finish();
}

/** What Ed25519 signs: "pairlink/v1/notice" || 0x00 || signed. */
export function noticeSignatureMessage(signed: Uint8Array): Uint8Array {
  return concatBytes(utf8(LABELS.noticeSignature), Uint8Array.of(0), signed);
}

/**
 * Signs `notice` with `signer` and seals it to the receiver's X25519 key. The signer must be the
 * sender, or for a rotation the key its new card carries: anything else is a programmer mistake.
 */
export function sealNotice(
  notice: Notice,
  signer: Ed25519SigningKey,
  receiverAgreementKey: Uint8Array,
  random: RandomSource,
): Uint8Array {
  const expected =
    notice.body.kind === 'rotate' ? readVerifiedCard(notice.body.card).signingKey : notice.sender;
  if (!equalBytesConstantTime(signer.publicKey, expected))
    throw new RangeError('a notice is signed by its sender, a rotation by the key it reveals');
  checkHeader(notice, RangeError);
  const signed = encodeSignedNotice(notice);
  const plaintext = concatBytes(signed, signer.sign(noticeSignatureMessage(signed)));
  return sealNoticePlaintext(plaintext, receiverAgreementKey, random);
}

/** The key of one notice (§11.2): HKDF of X25519(e, receiver), bound to both public keys. */
export function deriveNoticeKey(
  shared: Uint8Array,
  share: Uint8Array,
  receiverAgreementKey: Uint8Array,
): Uint8Array {
  const info = concatBytes(utf8(LABELS.noticeKey), lvCat(share, receiverAgreementKey));
  return hkdfExpand(hkdfExtract(shared, new Uint8Array(32)), info, 32);
}

/**
 * Seals a signed notice to `receiverAgreementKey` under a fresh ephemeral X25519 share. Each
 * notice has its own share and so its own key, which seals this one plaintext only: the fixed
 * nonce is safe, and a retry reposts these same bytes.
 */
export function sealNoticePlaintext(
  plaintext: Uint8Array,
  receiverAgreementKey: Uint8Array,
  random: RandomSource,
): Uint8Array {
  const ephemeral = X25519KeyPair.fromSecret(random(X25519_KEY_LENGTH));
  const shared = ephemeral.sharedSecret(receiverAgreementKey);
  if (shared === null) throw new PairlinkError('PROTOCOL_ERROR', "the peer's X25519 key is of low order");
  const key = deriveNoticeKey(shared, ephemeral.publicKey, receiverAgreementKey);
  return new ByteWriter()
    .u8(NOTICE_VERSION)
    .fixed(ephemeral.publicKey, X25519_KEY_LENGTH)
    .raw(sealFrame({ key }, NOTICE_SEAL_TYPE, plaintext))
    .finish();
}

/**
 * Opens a notice posted to this agent's inbox: null when it does not open under `agreement` (not
 * for this agent, or altered: ignored), else the decoded notice. Too large, another version, or a
 * plaintext that breaks §11.2's layout are PairlinkErrors.
 */
export function openNotice(bytes: Uint8Array, agreement: X25519KeyPair): OpenedNotice | null {
  if (bytes.length > MAX_NOTICE_BYTES) throw new PairlinkError('TOO_LARGE', 'notice too large');
  if (bytes.length < SEALED_HEAD_LENGTH + POLY1305_TAG_LENGTH)
    throw new PairlinkError('MALFORMED', 'notice: truncated');
  if (bytes[0] !== NOTICE_VERSION)
    throw new PairlinkError('UNSUPPORTED_VERSION', `notice version ${bytes[0]}`);
  const share = bytes.subarray(1, SEALED_HEAD_LENGTH);
  const shared = agreement.sharedSecret(share);
  if (shared === null) return null;
  let plaintext: Uint8Array;
  try {
    const key = deriveNoticeKey(shared, share, agreement.publicKey);
    plaintext = openFrame({ key }, NOTICE_SEAL_TYPE, bytes.subarray(SEALED_HEAD_LENGTH));
  } catch {
    return null;
  }
  return decodeNoticePlaintext(plaintext);
}

/** Decodes a notice's plaintext (signed || signature) strictly. */
export function decodeNoticePlaintext(plaintext: Uint8Array): OpenedNotice {
  if (plaintext.length > MAX_NOTICE_BYTES) throw new PairlinkError('TOO_LARGE', 'notice too large');
  const reader = new ByteReader(plaintext, 'notice');
  const version = reader.u8();
  if (version !== NOTICE_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', `notice version ${version}`);
  const kind = reader.u8();
  const sender = Uint8Array.from(reader.fixed(ED25519_PUBLIC_KEY_LENGTH));
  const receiver = Uint8Array.from(reader.fixed(ED25519_PUBLIC_KEY_LENGTH));
  const counter = reader.u32();
  const sentAt = reader.u32();
  const expiresAt = reader.u32();
  const body = decodeNoticeBody(kind, reader.long(MAX_NOTICE_BODY_BYTES));
  const signed = Uint8Array.from(plaintext.subarray(0, plaintext.length - reader.remaining));
  const signature = Uint8Array.from(reader.fixed(ED25519_SIGNATURE_LENGTH));
  reader.end();
  const notice: Notice = { sender, receiver, counter, sentAt, expiresAt, body };
  checkHeader(notice, MalformedNotice);
  return { notice, signed, signature };
}

class MalformedNotice extends PairlinkError {
  constructor(message: string) {
    super('MALFORMED', message);
  }
}

/**
 * The header's rules (§11.2): a receipt and only a receipt has counter 0, sentAt ≤ expiresAt,
 * and a TTL of at most 90 days. Broken by our own caller: RangeError; by a peer: MALFORMED.
 */
function checkHeader(notice: Notice, fail: new (message: string) => Error): void {
  if ((notice.counter === 0) !== (notice.body.kind === 'receipt'))
    throw new fail('notice: only a receipt has counter 0');
  if (notice.expiresAt < notice.sentAt || notice.expiresAt - notice.sentAt > MAX_NOTICE_TTL_SECONDS)
    throw new fail('notice: expiry before sending or more than 90 days after');
}
