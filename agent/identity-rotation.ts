import { ByteReader, ByteWriter } from '../src/encoding/binary.js';
import { PairlinkError } from '../src/errors.js';
import { ROTATION_REASONS, type RotationReason } from '../src/notice/notice-body.js';
import type { SecretStore } from './keystore/secret-store.js';

/**
 * Rotating this agent's own identity (PROTOCOL.md §11.6) across two stores, the keystore and the
 * state file, as a redo log: the whole transition is first written as one keystore entry
 * (`rotation`: the old, the new and the next-next secrets), then the keystore's entries are
 * switched, then the state is updated (the caller's step, idempotent), then the entry is deleted.
 * A start that finds the entry finishes the rotation, every write again (each is the same bytes),
 * so a kill at any point leaves the agent wholly before the rotation (no entry yet) or wholly
 * after it (the entry is finished at the next start).
 */

/** An identity's 64 secret bytes: Ed25519 seed || X25519 secret. */
export const IDENTITY_SECRET_BYTES = 64;
/** How long the key rotated away from is kept to open notices sealed to it (the agents' notice TTL, §11.2). */
export const PREVIOUS_KEY_KEPT_SECONDS = 30 * 86_400;

const REDO_VERSION = 1;

/** One rotation, as the redo entry holds it. */
export interface RotationRedo {
  readonly reason: RotationReason;
  /** Unix seconds: when it was decided (the previous key is forgotten PREVIOUS_KEY_KEPT_SECONDS later). */
  readonly at: number;
  readonly old: Uint8Array;
  readonly current: Uint8Array;
  readonly next: Uint8Array;
}

/** The points between the writes of a rotation, where a test injects a kill. */
export const ROTATION_STEPS = [
  'redoWritten',
  'previousKept',
  'identitySwitched',
  'nextSwitched',
  'stateUpdated',
] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

export function encodeRedo(redo: RotationRedo): Uint8Array {
  return new ByteWriter()
    .u8(REDO_VERSION)
    .u8(ROTATION_REASONS.indexOf(redo.reason))
    .u32(redo.at)
    .fixed(redo.old, IDENTITY_SECRET_BYTES)
    .fixed(redo.current, IDENTITY_SECRET_BYTES)
    .fixed(redo.next, IDENTITY_SECRET_BYTES)
    .finish();
}

/** Decodes the keystore's redo entry; a damaged one is STATE_DAMAGED (never guessed at). */
export function decodeRedo(bytes: Uint8Array): RotationRedo {
  try {
    const reader = new ByteReader(bytes, 'rotation entry');
    if (reader.u8() !== REDO_VERSION) throw new RangeError('version');
    const reason = ROTATION_REASONS[reader.u8()];
    if (reason === undefined) throw new RangeError('reason');
    const at = reader.u32();
    const take = () => Uint8Array.from(reader.fixed(IDENTITY_SECRET_BYTES));
    const redo = { reason, at, old: take(), current: take(), next: take() };
    reader.end();
    return redo;
  } catch {
    throw new PairlinkError(
      'STATE_DAMAGED',
      "the keystore's unfinished rotation entry is damaged; the identity cannot be told apart safely",
    );
  }
}

/** The key rotated away from, kept until `until` (Unix seconds). */
export function encodePrevious(secrets: Uint8Array, until: number): Uint8Array {
  return new ByteWriter().fixed(secrets, IDENTITY_SECRET_BYTES).u32(until).finish();
}

export function decodePrevious(bytes: Uint8Array): { secrets: Uint8Array; until: number } {
  const reader = new ByteReader(bytes, 'previous identity');
  const secrets = Uint8Array.from(reader.fixed(IDENTITY_SECRET_BYTES));
  const until = reader.u32();
  reader.end();
  return { secrets, until };
}

/**
 * The keystore's part of a rotation, from its redo entry: the previous key kept, the new current
 * and next keys in place. Idempotent: a start that finds the entry runs it again. `crash` is the
 * tests' kill switch, called after each write.
 */
export async function switchKeystore(
  keystore: SecretStore,
  redo: RotationRedo,
  crash: (step: RotationStep) => void,
): Promise<void> {
  await keystore.set('previous-identity', encodePrevious(redo.old, redo.at + PREVIOUS_KEY_KEPT_SECONDS));
  crash('previousKept');
  await keystore.set('identity', redo.current);
  crash('identitySwitched');
  await keystore.set('next-identity', redo.next);
  crash('nextSwitched');
}
