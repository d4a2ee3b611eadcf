import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { PairlinkConfig } from '../src/config/schema.js';
import { PairlinkError } from '../src/errors.js';

/** A CA bundle is a few KiB; a larger file is not one. */
const MAX_CA_FILE_BYTES = 1024 * 1024;

/**
 * The CAs an agent trusts for https/wss relays when the operator names a CA file (env
 * PAIRLINK_CA_FILE, else config `agent.caFile`): Node's bundled CAs plus that file's
 * certificates (PEM). Undefined when none is named: Node's defaults apply, NODE_EXTRA_CA_CERTS
 * included. A file that cannot be read or holds no certificate stops the agent with one sentence.
 */
export function relayCaFrom(config: PairlinkConfig, env: NodeJS.ProcessEnv): readonly string[] | undefined {
  const file = env.PAIRLINK_CA_FILE || config.agent.caFile;
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `cannot read the relay CA file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (pem.length > MAX_CA_FILE_BYTES)
    throw new PairlinkError('TOO_LARGE', `the relay CA file ${file} is larger than 1 MiB`);
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new PairlinkError('INVALID_PARAMS', `the relay CA file ${file} holds no PEM certificate`);
  return [...rootCertificates, pem];
}
