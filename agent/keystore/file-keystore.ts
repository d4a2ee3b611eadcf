import { randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { readFileIfExists, writeFileAtomic } from '../../io/secure-files.js';
import { PairlinkError } from '../../src/errors.js';
import type { SecretName, SecretStore } from './secret-store.js';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object,
) => Promise<Buffer>;

// scrypt N=2^15, r=8, p=1: ~0.1 s and 32 MiB here, once per agent start.
const KDF = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const MAX_KEYSTORE_BYTES = 64 * 1024;

interface KeystoreFile {
  version: 1;
  kdf: { alg: 'scrypt'; salt: string; N: number; r: number; p: number };
  /** A sealed known value: tells a wrong passphrase apart before any secret is touched. */
  check: string;
  entries: Partial<Record<SecretName, string>>;
}

function seal(key: Uint8Array, plaintext: Uint8Array): string {
  const nonce = randomBytes(24);
  return Buffer.concat([nonce, xsalsa20poly1305(key, nonce).encrypt(plaintext)]).toString('base64url');
}

function open(key: Uint8Array, sealed: string): Uint8Array {
  const bytes = Buffer.from(sealed, 'base64url');
  try {
    return xsalsa20poly1305(key, bytes.subarray(0, 24)).decrypt(bytes.subarray(24));
  } catch {
    throw new PairlinkError(
      'KEYSTORE_UNAVAILABLE',
      'the keystore passphrase is wrong, or the keystore file is damaged',
    );
  }
}

const CHECK = new TextEncoder().encode('pairlink keystore v1');

/**
 * The fallback keystore for machines without a keychain: one JSON file (0600, in the 0700 home)
 * whose entries are sealed with XSalsa20-Poly1305 under a key derived from a passphrase by scrypt.
 * Never plaintext: without a passphrase it cannot be opened at all.
 */
export class FileKeystore implements SecretStore {
  readonly kind = 'file';

  private constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
    private file: KeystoreFile,
  ) {}

  /** Opens (or creates) the keystore at `path` with `passphrase`. */
  static async open(path: string, passphrase: string): Promise<FileKeystore> {
    if (passphrase.length === 0)
      throw new PairlinkError('KEYSTORE_UNAVAILABLE', 'the keystore passphrase is empty');
    let existing: Buffer | null;
    try {
      existing = await readFileIfExists(path);
    } catch (error) {
      throw new PairlinkError(
        'KEYSTORE_UNAVAILABLE',
        `cannot read the keystore ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (existing) {
      let file: KeystoreFile;
      try {
        if (existing.length > MAX_KEYSTORE_BYTES) throw new Error('too large');
        file = JSON.parse(existing.toString('utf8')) as KeystoreFile;
      } catch {
        throw new PairlinkError('KEYSTORE_UNAVAILABLE', `${path} is not a pairlink keystore`);
      }
      if (file?.version !== 1 || file.kdf?.alg !== 'scrypt')
        throw new PairlinkError('KEYSTORE_UNAVAILABLE', `${path}: unsupported keystore version`);
      // The file says how hard to derive the key: bounded, so a planted file cannot make the
      // agent spend unbounded memory or time (and fails closed, as a wrong passphrase does).
      const { N, r, p, salt } = file.kdf;
      const sane =
        Number.isInteger(N) &&
        N >= 2 ** 10 &&
        N <= 2 ** 17 &&
        (N & (N - 1)) === 0 &&
        Number.isInteger(r) &&
        r >= 1 &&
        r <= 16 &&
        Number.isInteger(p) &&
        p >= 1 &&
        p <= 4 &&
        128 * N * r <= KDF.maxmem &&
        typeof salt === 'string' &&
        salt.length <= 64 &&
        typeof file.check === 'string' &&
        typeof file.entries === 'object' &&
        file.entries !== null;
      if (!sane) throw new PairlinkError('KEYSTORE_UNAVAILABLE', `${path}: keystore parameters out of range`);
      const key = await scrypt(passphrase, Buffer.from(file.kdf.salt, 'base64url'), 32, {
        ...KDF,
        N: file.kdf.N,
        r: file.kdf.r,
        p: file.kdf.p,
      });
      open(key, file.check);
      return new FileKeystore(path, key, file);
    }
    const salt = randomBytes(16);
    const key = await scrypt(passphrase, salt, 32, KDF);
    const file: KeystoreFile = {
      version: 1,
      kdf: { alg: 'scrypt', salt: salt.toString('base64url'), N: KDF.N, r: KDF.r, p: KDF.p },
      check: seal(key, CHECK),
      entries: {},
    };
    const store = new FileKeystore(path, key, file);
    await store.save();
    return store;
  }

  async get(name: SecretName): Promise<Uint8Array | null> {
    const sealed = this.file.entries[name];
    return sealed ? open(this.key, sealed) : null;
  }

  async set(name: SecretName, value: Uint8Array): Promise<void> {
    this.file = { ...this.file, entries: { ...this.file.entries, [name]: seal(this.key, value) } };
    await this.save();
  }

  async delete(name: SecretName): Promise<void> {
    const entries = { ...this.file.entries };
    delete entries[name];
    this.file = { ...this.file, entries };
    await this.save();
  }

  private save(): Promise<void> {
    return writeFileAtomic(this.path, `${JSON.stringify(this.file, null, 2)}\n`);
  }
}
