import sodium from 'libsodium-wrappers-sumo';
import {
  type RistrettoBackend,
  ristrettoBackend,
  scalarToBytes,
  useRistrettoBackend,
} from '../src/crypto/cpace.js';

/**
 * libsodium's ristretto255 (WebAssembly, shipped inside the libsodium-wrappers-sumo package) as
 * CPace's group implementation: crypto_core_ristretto255_from_hash and
 * crypto_scalarmult_ristretto255, ~1/10 of noble's cost per operation. Loading the module takes
 * ~20 ms, paid once by a long-running process (the agent), never by quick CLI commands.
 */
export async function sodiumRistretto(): Promise<RistrettoBackend> {
  await sodium.ready;
  return {
    name: 'libsodium',
    fromHash: (hash64) => sodium.crypto_core_ristretto255_from_hash(hash64),
    scalarMult(scalar, point) {
      const bytes = scalarToBytes(scalar);
      try {
        // Refuses a point that does not decode canonically and an identity product (it throws).
        return sodium.crypto_scalarmult_ristretto255(bytes, point);
      } catch {
        return null;
      } finally {
        bytes.fill(0);
      }
    },
  };
}

/** Installs libsodium's ristretto255 for this process; falls back to noble if it cannot load. */
export async function installSodiumRistretto(): Promise<string> {
  try {
    useRistrettoBackend(await sodiumRistretto());
  } catch {
    // noble stays: slower, the same bytes.
  }
  return ristrettoBackend().name;
}
