import { ByteReader, ByteWriter, decodeUtf8, utf8 } from '../encoding/binary.js';
import { PairlinkError } from '../errors.js';
import { checkDisplayName, MAX_NAME_BYTES } from '../identity/card.js';
import { Identity, type IdentitySecrets } from '../identity/identity.js';

const BUNDLE_VERSION = 1;

/** The identity a device invite hands over (sealed inside the welcome frame, never in the clear). */
export interface DeviceBundle extends IdentitySecrets {
  readonly name: string;
}

export function encodeDeviceBundle(bundle: DeviceBundle): Uint8Array {
  return new ByteWriter()
    .u8(BUNDLE_VERSION)
    .fixed(bundle.signingSeed, 32)
    .fixed(bundle.agreementSecret, 32)
    .short(utf8(bundle.name))
    .finish();
}

/** Decodes a bundle and checks that it really is the identity whose key the issuer signed with. */
export function decodeDeviceBundle(bytes: Uint8Array, expectedSigningKey: Uint8Array): DeviceBundle {
  const reader = new ByteReader(bytes, 'device bundle');
  if (reader.u8() !== BUNDLE_VERSION) throw new PairlinkError('UNSUPPORTED_VERSION', 'device bundle version');
  const signingSeed = Uint8Array.from(reader.fixed(32));
  const agreementSecret = Uint8Array.from(reader.fixed(32));
  const name = decodeUtf8(reader.short(MAX_NAME_BYTES), 'device bundle name');
  reader.end();
  checkDisplayName(name);
  const identity = Identity.fromSecrets({ signingSeed, agreementSecret });
  const matches =
    identity.signing.publicKey.length === expectedSigningKey.length &&
    identity.signing.publicKey.every((b, i) => b === expectedSigningKey[i]);
  if (!matches) throw new PairlinkError('PROTOCOL_ERROR', 'device bundle is not the issuer identity');
  return { signingSeed, agreementSecret, name };
}
