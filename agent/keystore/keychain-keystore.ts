import { createHash, randomBytes } from 'node:crypto';
import { PairlinkError } from '../../src/errors.js';
import type { SecretName, SecretStore } from './secret-store.js';

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'pairlink';

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
      await keytar.setPassword(KEYCHAIN_SERVICE, probe, value);
      const read = await keytar.getPassword(KEYCHAIN_SERVICE, probe);
      await keytar.deletePassword(KEYCHAIN_SERVICE, probe);
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
    const value = await this.keytar.getPassword(KEYCHAIN_SERVICE, this.account(name));
    return value === null ? null : new Uint8Array(Buffer.from(value, 'base64url'));
  }

  async set(name: SecretName, value: Uint8Array): Promise<void> {
    await this.keytar.setPassword(
      KEYCHAIN_SERVICE,
      this.account(name),
      Buffer.from(value).toString('base64url'),
    );
  }

  async delete(name: SecretName): Promise<void> {
    await this.keytar.deletePassword(KEYCHAIN_SERVICE, this.account(name));
  }
}
