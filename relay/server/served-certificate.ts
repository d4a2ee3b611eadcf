import { X509Certificate } from 'node:crypto';
import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import type { Server } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { PairlinkError } from '../../src/errors.js';

/** The relay's own TLS: a PEM certificate (chain) and its private key, both files. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** The certificate a TLS relay serves, read again when its files change or on SIGHUP. */
export interface ServedCertificate {
  /** What the server starts with. */
  current(): { cert: Buffer; key: Buffer };
  /** Serves from `server` and watches the files; a change reloads them. */
  attach(server: Server): void;
  /** Reads both files again; new connections get them, open ones keep theirs. False: kept the old. */
  reload(): boolean;
  close(): void;
}

/** A certificate chain or a key is a few KiB. */
const MAX_PEM_BYTES = 1024 * 1024;
/** How often the files' modification times are looked at (a renewal replaces them, often by rename). */
const WATCH_INTERVAL_MS = 2000;
/** A renewal writes two files: reload once both have settled, not between them. */
const SETTLE_MS = 500;

function readPem(path: string, what: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (pem.length > MAX_PEM_BYTES)
    throw new PairlinkError('TOO_LARGE', `the TLS ${what} ${path} is over 1 MiB`);
  return pem;
}

/** Both files, checked to be a certificate and the key that goes with it (never the key's text in an error). */
function load(files: TlsFiles): { cert: Buffer; key: Buffer; certificate: X509Certificate } {
  const cert = readPem(files.certFile, 'certificate');
  const key = readPem(files.keyFile, 'key');
  try {
    createSecureContext({ cert, key });
    return { cert, key, certificate: new X509Certificate(cert) };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new PairlinkError(
      'INVALID_PARAMS',
      `the TLS certificate ${files.certFile} and key ${files.keyFile} do not load together: ${reason}`,
    );
  }
}

/**
 * Loads the relay's certificate and key (throwing one sentence if they do not load) and keeps
 * them current: `reload` (SIGHUP) or a change to either file swaps them with setSecureContext,
 * which leaves open connections as they are. A reload that fails keeps serving the old pair.
 */
export function serveCertificate(files: TlsFiles, log: Logger): ServedCertificate {
  let loaded = load(files);
  let server: Server | null = null;
  let settle: NodeJS.Timeout | null = null;
  const describe = (certificate: X509Certificate) => ({
    cert: files.certFile,
    validTo: certificate.validTo,
    fingerprint256: certificate.fingerprint256,
  });
  const reload = (): boolean => {
    try {
      loaded = load(files);
    } catch (error) {
      log.warn(
        { err: (error as Error).message },
        'TLS certificate reload failed; still serving the previous one',
      );
      return false;
    }
    server?.setSecureContext({ cert: loaded.cert, key: loaded.key });
    log.info(describe(loaded.certificate), 'TLS certificate reloaded');
    return true;
  };
  const changed = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino) return;
    if (settle) clearTimeout(settle);
    settle = setTimeout(reload, SETTLE_MS);
    settle.unref();
  };
  return {
    current: () => ({ cert: loaded.cert, key: loaded.key }),
    attach(served) {
      server = served;
      for (const path of [files.certFile, files.keyFile])
        watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, changed);
      log.info(describe(loaded.certificate), 'TLS certificate loaded');
    },
    reload,
    close() {
      if (settle) clearTimeout(settle);
      for (const path of [files.certFile, files.keyFile]) unwatchFile(path, changed);
    },
  };
}
