import type { RandomSource } from '../src/crypto/random.js';
import { PairlinkError } from '../src/errors.js';
import type { DeviceBundle } from '../src/handshake/device-bundle.js';
import type { IssuerStepContext } from '../src/handshake/issuer.js';
import { issueCard } from '../src/identity/card.js';
import { Identity } from '../src/identity/identity.js';
import type { RotationReason } from '../src/notice/notice-body.js';
import { nextKeyCommitment } from '../src/notice/rotation.js';
import {
  decodePrevious,
  decodeRedo,
  encodeRedo,
  PREVIOUS_KEY_KEPT_SECONDS,
  type RotationRedo,
  type RotationStep,
  switchKeystore,
} from './identity-rotation.js';
import type { SecretName, SecretStore } from './keystore/secret-store.js';

/** What a rotation asks of its caller between the keystore's switch and the redo entry's end. */
export type RotationStateStep = (redo: RotationRedo) => Promise<void>;

const noCrash = (_step: RotationStep): void => undefined;

/**
 * The agent's identity: its secrets in the keystore (64 bytes, `identity`), the Identity made
 * from them, and the signed card it hands its peers. Device mode replaces it with the issuer's.
 * Its next identity (pre-rotation, PROTOCOL.md §11.6) is made once and kept under an entry of its
 * own (`next-identity`); only its commitment leaves, in every inbox frame. A device (§6.8) holds
 * no next identity, only the identity's commitment (`next-commitment`, empty when its bundle
 * carried none), so it can never rotate. `rotate` (identity-rotation.ts) makes the next identity
 * the current one and keeps the one it replaces (`previous-identity`) for the notice TTL.
 */
export class AgentIdentity {
  private secrets!: Uint8Array;
  private current!: Identity;
  private cardBytes: Uint8Array = new Uint8Array(0);
  private commitment: Uint8Array | null = null;
  private nextSecrets: Uint8Array | null = null;
  private previous: { readonly identity: Identity; readonly until: number } | null = null;
  /** A rotation found unfinished at start: its state step is still owed (`finishRotation`). */
  private pending: RotationRedo | null = null;

  private constructor(private readonly keystore: SecretStore) {}

  /** The keystore's identity, created (and stored) on first start; an unfinished rotation's keystore part is redone. */
  static async open(keystore: SecretStore, random: RandomSource): Promise<AgentIdentity> {
    const self = new AgentIdentity(keystore);
    const redo = await keystore.get('rotation');
    if (redo) {
      self.pending = decodeRedo(redo);
      await switchKeystore(keystore, self.pending, noCrash);
    }
    self.use(await storedSecrets(keystore, 'identity', random));
    await self.loadNext(random);
    const previous = await keystore.get('previous-identity');
    if (previous) {
      const { secrets, until } = decodePrevious(previous);
      self.previous = { identity: identityOf(secrets), until };
    }
    return self;
  }

  /** The commitment to the next signing key (PROTOCOL.md §11.6) that every inbox frame carries; null on a device given none. */
  get nextKeyCommitment(): Uint8Array | null {
    return this.commitment;
  }

  /** False on a device (§6.8): it holds the identity, never its next key. */
  get holdsNextKey(): boolean {
    return this.nextSecrets !== null;
  }

  get identity(): Identity {
    return this.current;
  }

  /** The identity rotated away from, while notices sealed to it may still arrive (until `until`). */
  get previousIdentity(): Identity | null {
    return this.previous?.identity ?? null;
  }

  /** The signed card, as last issued. */
  get card(): Uint8Array {
    return this.cardBytes;
  }

  /** Signs a new card for `name` on `relayUrl` (`createdAt`: when this identity's first card was issued). */
  issueCard(name: string, relayUrl: string, createdAt: number): void {
    this.cardBytes = issueCard(this.current, name, relayUrl, createdAt).bytes;
  }

  /**
   * Rotates (§11.6): the next identity becomes the current one, a new next one is drawn, the
   * current one is kept as the previous. The keystore's switch and `stateStep` run under a redo
   * entry, so a kill anywhere is finished at the next start (`finishRotation`). `crash` is for tests.
   */
  async rotate(
    reason: RotationReason,
    now: number,
    random: RandomSource,
    stateStep: RotationStateStep,
    crash: (step: RotationStep) => void = noCrash,
  ): Promise<RotationRedo> {
    if (this.nextSecrets === null)
      throw new PairlinkError('NO_NEXT_KEY', "this device does not hold the identity's next key");
    if (this.pending) throw new PairlinkError('INTERNAL', 'a rotation is still unfinished');
    const redo: RotationRedo = {
      reason,
      at: now,
      old: this.secrets,
      current: this.nextSecrets,
      next: freshSecrets(random),
    };
    await this.keystore.set('rotation', encodeRedo(redo));
    crash('redoWritten');
    this.pending = redo;
    await switchKeystore(this.keystore, redo, crash);
    this.adopt(redo);
    await this.finishRotation(stateStep, crash);
    return redo;
  }

  /** The rotation found unfinished at start, if any (its state step is owed). */
  get unfinishedRotation(): RotationRedo | null {
    return this.pending;
  }

  /** Runs the state step owed by an unfinished rotation (idempotent), then forgets its redo entry. */
  async finishRotation(stateStep: RotationStateStep, crash: (step: RotationStep) => void = noCrash) {
    const redo = this.pending;
    if (!redo) return;
    await stateStep(redo);
    crash('stateUpdated');
    await this.keystore.delete('rotation');
    this.pending = null;
  }

  /** Forgets the previous identity once notices sealed to it can no longer arrive (`now` in seconds). */
  async forgetPrevious(now: number): Promise<void> {
    if (this.previous === null || now <= this.previous.until) return;
    this.previous = null;
    await this.keystore.delete('previous-identity');
  }

  /**
   * Device mode: this machine becomes another device of the issuer's identity (the caller issues
   * the card). It keeps no next key of its own, only the identity's commitment when the bundle
   * has one (version 1 bundles do not: this device's peers then cannot follow a rotation).
   */
  async import(bundle: DeviceBundle): Promise<void> {
    const secrets = Buffer.concat([bundle.signingSeed, bundle.agreementSecret]);
    await this.keystore.delete('next-identity');
    await this.keystore.set('next-commitment', bundle.nextKeyCommitment ?? new Uint8Array(0));
    await this.keystore.set('identity', secrets);
    await this.keystore.delete('previous-identity');
    this.use(secrets);
    this.nextSecrets = null;
    this.commitment = bundle.nextKeyCommitment ?? null;
    this.previous = null;
  }

  /** What a machine step needs of the identity, at `now`; a device invite's bundle carries the agent's `name`. */
  context(now: number, name: () => string, random: RandomSource): IssuerStepContext {
    const secrets = this.secrets;
    const commitment = this.commitment;
    return {
      identity: this.current,
      card: this.cardBytes,
      now,
      random,
      deviceBundle: () => ({
        signingSeed: secrets.subarray(0, 32),
        agreementSecret: secrets.subarray(32, 64),
        ...(commitment ? { nextKeyCommitment: commitment } : {}),
        name: name(),
      }),
    };
  }

  /** The next key: this agent's own, or (a device) only the identity's commitment. */
  private async loadNext(random: RandomSource): Promise<void> {
    const deviceCommitment = await this.keystore.get('next-commitment');
    if (deviceCommitment) {
      this.commitment = deviceCommitment.length === 32 ? deviceCommitment : null;
      return;
    }
    this.nextSecrets = await storedSecrets(this.keystore, 'next-identity', random);
    this.commitment = nextKeyCommitment(identityOf(this.nextSecrets).signing.publicKey);
  }

  private adopt(redo: RotationRedo): void {
    this.use(redo.current);
    this.nextSecrets = Uint8Array.from(redo.next);
    this.commitment = nextKeyCommitment(identityOf(redo.next).signing.publicKey);
    this.previous = { identity: identityOf(redo.old), until: redo.at + PREVIOUS_KEY_KEPT_SECONDS };
  }

  private use(secrets: Uint8Array): void {
    this.secrets = Uint8Array.from(secrets);
    this.current = identityOf(secrets);
  }
}

function freshSecrets(random: RandomSource): Uint8Array {
  const fresh = Identity.generate(random);
  return Buffer.concat([fresh.secrets.signingSeed, fresh.secrets.agreementSecret]);
}

/** An identity's 64 secret bytes under `name` in the keystore, made (and stored) the first time. */
async function storedSecrets(
  keystore: SecretStore,
  name: SecretName,
  random: RandomSource,
): Promise<Uint8Array> {
  const stored = await keystore.get(name);
  if (stored) return stored;
  const secrets = freshSecrets(random);
  await keystore.set(name, secrets);
  return secrets;
}

function identityOf(secrets: Uint8Array): Identity {
  return Identity.fromSecrets({
    signingSeed: secrets.subarray(0, 32),
    agreementSecret: secrets.subarray(32, 64),
  });
}
