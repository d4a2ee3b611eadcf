import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PairlinkError } from '../../src/errors.js';
import { FileKeystore } from './file-keystore.js';
import { KeychainKeystore } from './keychain-keystore.js';
import type { SecretStore } from './secret-store.js';

export type KeystoreChoice = 'auto' | 'keychain' | 'file';

/** Where a file keystore's passphrase may come from, in order. */
async function findPassphrase(env: NodeJS.ProcessEnv, passphraseFile: string | null): Promise<string | null> {
  if (env.PAIRLINK_PASSPHRASE) return env.PAIRLINK_PASSPHRASE;
  const files = [
    env.PAIRLINK_PASSPHRASE_FILE,
    env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, 'pairlink-passphrase') : undefined,
    passphraseFile ?? undefined,
  ].filter((f): f is string => Boolean(f));
  for (const file of files) {
    try {
      return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      if (file === env.PAIRLINK_PASSPHRASE_FILE || file === passphraseFile) {
        throw new PairlinkError(
          'KEYSTORE_UNAVAILABLE',
          `cannot read the passphrase file ${file}: ${(error as NodeJS.ErrnoException).code}`,
        );
      }
    }
  }
  return null;
}

const HOW_TO_FIX = [
  'No keystore is available for the identity secrets. Either:',
  '  - run where the OS keychain is reachable (a desktop session; on Linux a Secret Service such as gnome-keyring), or',
  '  - use the encrypted file keystore: set PAIRLINK_PASSPHRASE, or PAIRLINK_PASSPHRASE_FILE=<file with the passphrase>,',
  '    or (under systemd) LoadCredential=pairlink-passphrase:<file>. pairlink never stores keys in plaintext.',
].join('\n');

/**
 * Opens the keystore: `keychain` or `file` when forced (PAIRLINK_KEYSTORE), else the keychain if
 * it passes its probe, else the encrypted file if a passphrase is given, else KEYSTORE_UNAVAILABLE
 * with instructions. Never falls back to plaintext.
 */
export async function openKeystore(options: {
  choice: KeystoreChoice;
  home: string;
  keystoreFile: string;
  env: NodeJS.ProcessEnv;
  passphraseFile: string | null;
}): Promise<{ store: SecretStore; note: string | null }> {
  let keychainProblem: string | null = null;
  if (options.choice !== 'file') {
    try {
      return { store: await KeychainKeystore.open(options.home), note: null };
    } catch (error) {
      if (options.choice === 'keychain') throw error;
      keychainProblem = (error as Error).message;
    }
  }
  const passphrase = await findPassphrase(options.env, options.passphraseFile);
  if (passphrase === null) {
    throw new PairlinkError(
      'KEYSTORE_UNAVAILABLE',
      keychainProblem ? `${HOW_TO_FIX}\n(keychain: ${keychainProblem})` : HOW_TO_FIX,
    );
  }
  const store = await FileKeystore.open(options.keystoreFile, passphrase);
  return {
    store,
    note: keychainProblem ? `using the encrypted file keystore (keychain: ${keychainProblem})` : null,
  };
}
