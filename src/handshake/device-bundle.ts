import { ByteReader, ByteWriter, decodeUtf8, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { checkDisplayName, MAX_NAME_BYTES } from '../identity/card.js';
import { Identity, type IdentitySecrets } from '../identity/identity.js';

/** Version 2 carries the identity's next-key commitment; version 1 (before rotation) none. */
const BUNDLE_VERSION = 2;
const COMMITMENT_LENGTH = 32;

/**
 * The identity a device invite hands over (sealed inside the welcome frame, never in the clear):
 * its current secrets and the commitment to its next key, never the next key itself
 * (PROTOCOL.md §6.8, §11.6), so a device can never rotate the identity, nor can its thief.
 */
export interface DeviceBundle extends IdentitySecrets {
  /** Absent when the issuer holds none to hand (a device given a version 1 bundle). */
  readonly nextKeyCommitment?: Uint8Array;
  readonly name: string;
}

/** Version 2; an issuer without a commitment (itself a version 1 device) hands 32 zero bytes, read as none. */
export function encodeDeviceBundle(bundle: DeviceBundle): Uint8Array {
  return new ByteWriter()
    .u8(BUNDLE_VERSION)
    .fixed(bundle.signingSeed, 32)
    .fixed(bundle.agreementSecret, 32)
    .fixed(bundle.nextKeyCommitment ?? new Uint8Array(COMMITMENT_LENGTH), COMMITMENT_LENGTH)
    .short(utf8(bundle.name))
    .finish();
}

/** Decodes a bundle and checks that it really is the identity whose key the issuer signed with. */
export function decodeDeviceBundle(bytes: Uint8Array, expectedSigningKey: Uint8Array): DeviceBundle {
  const reader = new ByteReader(bytes, 'device bundle');
  const version = reader.u8();
  if (version !== 1 && version !== BUNDLE_VERSION)
    throw new PairlinkError('UNSUPPORTED_VERSION', 'device bundle version');
  const signingSeed = Uint8Array.from(reader.fixed(32));
  const agreementSecret = Uint8Array.from(reader.fixed(32));
  const commitment = version === 1 ? null : Uint8Array.from(reader.fixed(COMMITMENT_LENGTH));
  const nextKeyCommitment = commitment?.some((b) => b !== 0) ? { nextKeyCommitment: commitment } : {};
  const name = decodeUtf8(reader.short(MAX_NAME_BYTES), 'device bundle name');
  reader.end();
  checkDisplayName(name);
  const identity = Identity.fromSecrets({ signingSeed, agreementSecret });
  const matches =
    identity.signing.publicKey.length === expectedSigningKey.length &&
    identity.signing.publicKey.every((b, i) => b === expectedSigningKey[i]);
  if (!matches) throw new PairlinkError('PROTOCOL_ERROR', 'device bundle is not the issuer identity');
  return { signingSeed, agreementSecret, ...nextKeyCommitment, name };
}
