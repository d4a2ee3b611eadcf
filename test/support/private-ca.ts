import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key as files, with the certificate's SHA-256 fingerprint (as node:tls shows it). */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly fingerprint256: string;
}

/** A private CA made with the openssl CLI (node:crypto cannot make X.509 certificates). */
export interface PrivateCa {
  /** The CA's certificate: what an agent's PAIRLINK_CA_FILE names. */
  readonly certFile: string;
  /** A server certificate for `localhost` and 127.0.0.1, signed by this CA, written under `name`. */
  issue(name: string): Promise<IssuedCertificate>;
}

/** Whether the openssl CLI is there (Debian's `openssl`; .ci/run installs it). */
export async function hasOpenssl(): Promise<boolean> {
  return run('openssl', ['version']).then(
    () => true,
    () => false,
  );
}

function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Makes a CA (P-256, valid 2 days) in `dir`. */
export async function makePrivateCa(dir: string, label = 'pairlink test CA'): Promise<PrivateCa> {
  const caKey = join(dir, `${label.replace(/\W+/g, '-')}.key`);
  const caCert = join(dir, `${label.replace(/\W+/g, '-')}.pem`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    `/CN=${label}`,
  ]);
  return {
    certFile: caCert,
    async issue(name) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      await run('openssl', ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost']);
      writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-out',
        certFile,
        '-days',
        '2',
        '-extfile',
        ext,
      ]);
      return { certFile, keyFile, fingerprint256: fingerprintOf(certFile) };
    },
  };
}
