import type { RandomSource } from '../src/crypto/random.js';
import type { DeviceBundle } from '../src/handshake/device-bundle.js';
import type { IssuerStepContext } from '../src/handshake/issuer.js';
import { issueCard } from '../src/identity/card.js';
import { Identity } from '../src/identity/identity.js';
import { nextKeyCommitment } from '../src/notice/rotation.js';
import type { SecretName, SecretStore } from './keystore/secret-store.js';

/**
 * The agent's identity: its secrets in the keystore (64 bytes, `identity`), the Identity made
 * from them, and the signed card it hands its peers. Device mode replaces it with the issuer's.
 * Its next identity (pre-rotation, PROTOCOL.md §11.6) is made once and kept under an entry of its
 * own (`next-identity`); only its commitment leaves, in every inbox frame.
 */
export class AgentIdentity {
  private secrets!: Uint8Array;
  private current!: Identity;
  private cardBytes: Uint8Array = new Uint8Array(0);
  private commitment!: Uint8Array;

  private constructor(private readonly keystore: SecretStore) {}

  /** The keystore's identity, created (and stored) on first start. */
  static async open(keystore: SecretStore, random: RandomSource): Promise<AgentIdentity> {
    const self = new AgentIdentity(keystore);
    self.use(await storedSecrets(keystore, 'identity', random));
    const next = identityOf(await storedSecrets(keystore, 'next-identity', random));
    self.commitment = nextKeyCommitment(next.signing.publicKey);
    return self;
  }

  /** The commitment to the next signing key (PROTOCOL.md §11.6) that every inbox frame carries. */
  get nextKeyCommitment(): Uint8Array {
    return this.commitment;
  }

  get identity(): Identity {
    return this.current;
  }

  /** The signed card, as last issued. */
  get card(): Uint8Array {
    return this.cardBytes;
  }

  /** Signs a new card for `name` on `relayUrl` (`createdAt`: when this identity's first card was issued). */
  issueCard(name: string, relayUrl: string, createdAt: number): void {
    this.cardBytes = issueCard(this.current, name, relayUrl, createdAt).bytes;
  }

  /** Device mode: this machine becomes another device of the issuer's identity (the caller issues the card). */
  async import(bundle: DeviceBundle): Promise<void> {
    const secrets = Buffer.concat([bundle.signingSeed, bundle.agreementSecret]);
    await this.keystore.set('identity', secrets);
    this.use(secrets);
  }

  /** What a machine step needs of the identity, at `now`; a device invite's bundle carries the agent's `name`. */
  context(now: number, name: () => string, random: RandomSource): IssuerStepContext {
    const secrets = this.secrets;
    return {
      identity: this.current,
      card: this.cardBytes,
      now,
      random,
      deviceBundle: () => ({
        signingSeed: secrets.subarray(0, 32),
        agreementSecret: secrets.subarray(32, 64),
        name: name(),
      }),
    };
  }

  private use(secrets: Uint8Array): void {
    this.secrets = Uint8Array.from(secrets);
    this.current = identityOf(secrets);
  }
}

/** An identity's 64 secret bytes under `name` in the keystore, made (and stored) the first time. */
async function storedSecrets(
  keystore: SecretStore,
  name: SecretName,
  random: RandomSource,
): Promise<Uint8Array> {
  const stored = await keystore.get(name);
  if (stored) return stored;
  const fresh = Identity.generate(random);
  const secrets = Buffer.concat([fresh.secrets.signingSeed, fresh.secrets.agreementSecret]);
  await keystore.set(name, secrets);
  return secrets;
}

function identityOf(secrets: Uint8Array): Identity {
  return Identity.fromSecrets({
    signingSeed: secrets.subarray(0, 32),
    agreementSecret: secrets.subarray(32, 64),
  });
}
