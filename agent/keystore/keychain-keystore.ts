import { createHash, randomBytes } from 'node:crypto';
import { withDeadline as deadline } from '../../io/deadline.js';
import { PairlinkError } from '../../src/errors.js';
import type { SecretName, SecretStore } from './secret-store.js';

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'pairlink';

/** How long one keychain call may take: a keyring that waits for a prompt nobody sees fails instead. */
export const KEYCHAIN_TIMEOUT_MS = 10_000;

function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  return deadline(
    work,
    KEYCHAIN_TIMEOUT_MS,
    () => new PairlinkError('KEYSTORE_UNAVAILABLE', `the OS keychain did not answer ${what} in 10 s`),
  );
}

/**
 * The OS keychain through keytar (macOS Keychain, Windows Credential Manager, Secret Service on
 * Linux). Accounts are `<secret>@<home id>`, so agents with different homes on one machine keep
 * separate secrets.
 */
export class KeychainKeystore implements SecretStore {
  readonly kind = 'keychain';

  private constructor(
    private readonly keytar: Keytar,
    private readonly homeId: string,
  ) {}

  /**
   * Loads keytar and proves the keychain works with a write, a read-back and a delete: a locked
   * keyring can answer reads with nothing, which must not be mistaken for "no identity yet".
   * Throws KEYSTORE_UNAVAILABLE with the reason otherwise.
   */
  static async open(home: string): Promise<KeychainKeystore> {
    let keytar: Keytar;
    try {
      const loaded = (await import('keytar')) as { default?: Keytar } & Keytar;
      keytar = loaded.default ?? loaded;
    } catch (error) {
      throw new PairlinkError(
        'KEYSTORE_UNAVAILABLE',
        `keytar cannot be loaded: ${(error as Error).message.split('\n')[0]}`,
      );
    }
    const store = new KeychainKeystore(keytar, createHash('sha256').update(home).digest('hex').slice(0, 16));
    const probe = `probe@${store.homeId}`;
    const value = randomBytes(16).toString('base64url');
    try {
      await withDeadline(keytar.setPassword(KEYCHAIN_SERVICE, probe, value), 'a write');
      const read = await withDeadline(keytar.getPassword(KEYCHAIN_SERVICE, probe), 'a read');
      await withDeadline(keytar.deletePassword(KEYCHAIN_SERVICE, probe), 'a delete');
      if (read !== value) throw new Error('the keychain did not return what was written (is it locked?)');
    } catch (error) {
      throw new PairlinkError(
        'KEYSTORE_UNAVAILABLE',
        `the OS keychain does not answer: ${(error as Error).message}`,
      );
    }
    return store;
  }

  /** The keychain account name of a secret. */
  account(name: SecretName): string {
    return `${name}@${this.homeId}`;
  }

  async get(name: SecretName): Promise<Uint8Array | null> {
    const value = await withDeadline(this.keytar.getPassword(KEYCHAIN_SERVICE, this.account(name)), 'a read');
    return value === null ? null : new Uint8Array(Buffer.from(value, 'base64url'));
  }

  async set(name: SecretName, value: Uint8Array): Promise<void> {
    await withDeadline(
      this.keytar.setPassword(KEYCHAIN_SERVICE, this.account(name), Buffer.from(value).toString('base64url')),
      'a write',
    );
  }

  async delete(name: SecretName): Promise<void> {
    await withDeadline(this.keytar.deletePassword(KEYCHAIN_SERVICE, this.account(name)), 'a delete');
  }
}
