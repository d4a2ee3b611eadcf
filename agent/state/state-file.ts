import { randomBytes } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { PairlinkError } from '../../src/errors.js';
import { readFileIfExists, writeFileAtomic } from '../secure-files.js';
import { STATE_VERSION } from './agent-state.js';
import { decodeStateJson, encodeStateJson } from './state-codec.js';

/**
 * A sealed state file: versioned JSON `{version, sealed}` where `sealed` is the document, encrypted
 * with XSalsa20-Poly1305 under a 32-byte key held in the keystore. Pending invites carry their
 * secrets, so with the keychain in use nothing secret is readable in the home directory. Every
 * write is atomic (temp file, fsync, rename): a crash leaves the old document or the new one.
 */
export class StateFile<T> {
  constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
  ) {}

  async load(): Promise<T | null> {
    const raw = await readFileIfExists(this.path);
    if (raw === null) return null;
    let outer: { version?: unknown; sealed?: unknown };
    try {
      outer = JSON.parse(raw.toString('utf8')) as typeof outer;
    } catch {
      throw new PairlinkError('INTERNAL', `${this.path} is not a pairlink state file`);
    }
    if (outer.version !== STATE_VERSION || typeof outer.sealed !== 'string') {
      throw new PairlinkError(
        'UNSUPPORTED_VERSION',
        `${this.path}: state version ${String(outer.version)} is not supported`,
      );
    }
    const bytes = Buffer.from(outer.sealed, 'base64url');
    let plaintext: Uint8Array;
    try {
      plaintext = xsalsa20poly1305(this.key, bytes.subarray(0, 24)).decrypt(bytes.subarray(24));
    } catch {
      throw new PairlinkError(
        'KEYSTORE_UNAVAILABLE',
        `${this.path} cannot be decrypted with the state key in this keystore`,
      );
    }
    return decodeStateJson<T>(Buffer.from(plaintext).toString('utf8'));
  }

  async save(state: T): Promise<void> {
    const nonce = randomBytes(24);
    const sealed = xsalsa20poly1305(this.key, nonce).encrypt(Buffer.from(encodeStateJson(state)));
    const outer = { version: STATE_VERSION, sealed: Buffer.concat([nonce, sealed]).toString('base64url') };
    await writeFileAtomic(this.path, `${JSON.stringify(outer)}\n`);
  }
}
