import { ByteReader, ByteWriter } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { MAX_CARD_BYTES } from '../identity/card.js';
import { decodeInbox, encodeInbox, type Inbox } from './inbox.js';
import { NEXT_KEY_COMMITMENT_LENGTH } from './rotation.js';

/**
 * What a notice says, one body per kind (docs/PROTOCOL.md §11.3). The kind's number on the wire is
 * its index here plus one; the rotation reason's likewise.
 */
export const NOTICE_KINDS = ['unpair', 'rotate', 'inboxMoved', 'ping', 'receipt'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** Why an identity rotated; shown to the peer's operator, it changes no rule. */
export const ROTATION_REASONS = ['scheduled', 'deviceRevoked', 'compromised'] as const;
export type RotationReason = (typeof ROTATION_REASONS)[number];

/** A rotation: the new card (signed by the key it reveals) and the commitment to the key after it. */
export interface RotateBody {
  readonly kind: 'rotate';
  readonly reason: RotationReason;
  /** The new card's bytes (§2): its signing key is the revealed next key. */
  readonly card: Uint8Array;
  readonly nextKeyCommitment: Uint8Array;
}

export type NoticeBody =
  | { readonly kind: 'unpair' }
  | RotateBody
  | { readonly kind: 'inboxMoved'; readonly inbox: Inbox }
  | { readonly kind: 'ping' }
  /** The answer to a counted notice (to a ping: the pong); `counter` is that notice's. */
  | { readonly kind: 'receipt'; readonly counter: number };

/** No body is longer (a rotation's is at most 434 bytes). */
export const MAX_NOTICE_BODY_BYTES = 512;

/** The wire number of a kind (1–5). */
export function kindCode(kind: NoticeKind): number {
  return NOTICE_KINDS.indexOf(kind) + 1;
}

/** A body's bytes, without its length prefix. */
export function encodeNoticeBody(body: NoticeBody): Uint8Array {
  switch (body.kind) {
    case 'unpair':
    case 'ping':
      return new Uint8Array(0);
    case 'rotate':
      return new ByteWriter()
        .u8(ROTATION_REASONS.indexOf(body.reason) + 1)
        .long(body.card)
        .fixed(body.nextKeyCommitment, NEXT_KEY_COMMITMENT_LENGTH)
        .finish();
    case 'inboxMoved':
      return encodeInbox(body.inbox);
    case 'receipt':
      return new ByteWriter().u32(body.counter).finish();
  }
}

/**
 * Decodes the body of a notice of kind `code` strictly: an unknown kind or reason, a length that
 * is not the kind's, or a trailing byte is MALFORMED. A rotation's card is only bounded here; the
 * rotation check verifies it (§11.6).
 */
export function decodeNoticeBody(code: number, bytes: Uint8Array): NoticeBody {
  const kind = NOTICE_KINDS[code - 1];
  if (kind === undefined) throw new PairlinkError('MALFORMED', `notice: unknown kind ${code}`);
  const reader = new ByteReader(bytes, `${kind} notice`);
  let body: NoticeBody;
  switch (kind) {
    case 'unpair':
    case 'ping':
      body = { kind };
      break;
    case 'rotate': {
      const reason = ROTATION_REASONS[reader.u8() - 1];
      if (reason === undefined) throw new PairlinkError('MALFORMED', 'rotate notice: unknown reason');
      const card = Uint8Array.from(reader.long(MAX_CARD_BYTES));
      const nextKeyCommitment = Uint8Array.from(reader.fixed(NEXT_KEY_COMMITMENT_LENGTH));
      body = { kind, reason, card, nextKeyCommitment };
      break;
    }
    case 'inboxMoved':
      return { kind, inbox: decodeInbox(reader.rest()) };
    case 'receipt': {
      const counter = reader.u32();
      if (counter === 0) throw new PairlinkError('MALFORMED', 'receipt notice: counter 0');
      body = { kind, counter };
      break;
    }
  }
  reader.end();
  return body;
}
