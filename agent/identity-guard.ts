import { mkdir, readdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PairlinkError } from '../src/errors.js';
import type { SecretStore } from './keystore/secret-store.js';

/** The files an identity leaves in its home: the state (snapshot and logs) and the audit log. */
async function identityFiles(stateFile: string): Promise<string[]> {
  const state = basename(stateFile);
  const names = await readdir(dirname(stateFile)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return names.filter((n) => n === state || n.startsWith(`${state}.`) || n === 'audit.log').sort();
}

/**
 * Never a silently new identity. The state file is the record that an identity lived in this home
 * (it holds its peers, sealed under a key kept beside the identity): when it is there but the
 * keystore has no identity (another keystore was chosen, a keychain was wiped, a passphrase file
 * points elsewhere), starting would make a new identity that none of the peers knows, and leave
 * the old state unreadable. So the agent refuses (IDENTITY_MISSING), unless told to start fresh:
 * then the old state moves, whole, to `replaced-<time>` in the home (nothing is deleted) and the
 * directory is returned. Runs before the agent writes anything to the keystore.
 */
export async function guardIdentity(options: {
  readonly keystore: SecretStore;
  readonly stateFile: string;
  readonly newIdentity: boolean;
  readonly now: Date;
}): Promise<string | null> {
  if ((await options.keystore.get('identity')) !== null) return null;
  const files = await identityFiles(options.stateFile);
  if (files.length === 0) return null;
  const home = dirname(options.stateFile);
  if (!options.newIdentity) {
    throw new PairlinkError(
      'IDENTITY_MISSING',
      `${home}, and the ${options.keystore.kind} keystore has no identity; use the keystore that identity was made with, or start fresh with \`pairlink agent --new-identity\` (PAIRLINK_NEW_IDENTITY=1), which moves the old state aside`,
    );
  }
  const aside = join(home, `replaced-${options.now.toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(aside, { mode: 0o700 });
  for (const name of files) await rename(join(home, name), join(aside, name));
  return aside;
}
