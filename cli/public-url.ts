import { isIP } from 'node:net';
import { checkRelayUrl as checkCardRelayUrl } from '../src/identity/card.js';
import { classifyHost } from '../src/invite/relay-policy.js';
import { UsageError } from './output.js';

/** `pairlink up --host`: the address its relay listens on, an IP address of this machine. */
export function checkListenHost(text: string): string {
  if (isIP(text) === 0)
    throw new UsageError(`--host must be an IP address of this machine (like 192.0.2.1), not "${text}"`);
  return text;
}

/** True for 0.0.0.0 and ::, which listen on every address and name none a client could use. */
export function isUnspecified(host: string): boolean {
  return classifyHost(isIP(host) === 6 ? `[${host}]` : host) === 'unspecified';
}

/** The relay URL of a relay listening on `host` (an IP address) and `port`. */
export function relayUrlFor(host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * `pairlink up --public-url`: the relay URL its invites carry, which the other machine's agent
 * contacts. Checked here because every invite would repeat a mistake in it: http(s) only, no user
 * name or password (an invite would show them to whoever it is pasted to), no query or fragment,
 * never an address every other agent refuses (unspecified, link-local, multicast: docs/SECURITY.md).
 * Returns it in the canonical form cards carry (`http://192.0.2.1:7457/` becomes `…:7457`).
 */
export function checkPublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--public-url must be a URL like http://192.0.2.1:7457, not "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--public-url must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw new UsageError('--public-url must not carry a user name or password: every invite would show them');
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#'))
    throw new UsageError('--public-url must not carry a query or fragment');
  const kind = classifyHost(url.hostname);
  if (kind !== 'other' && kind !== 'loopback')
    throw new UsageError(
      `--public-url names ${url.hostname}, ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} address, which other agents refuse`,
    );
  const canonical = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  try {
    return checkCardRelayUrl(canonical);
  } catch (error) {
    throw new UsageError(`--public-url: ${(error as Error).message}`);
  }
}

/**
 * What `pairlink up` tells its operator to run on the other machine (README, "Two machines"):
 * its own agent, then the accept. Plain http beyond loopback is refused by an agent unless it was
 * started with the opt-in, so for an http URL the command carries it, in plain sight.
 */
export function otherMachineLines(publicUrl: string): string[] {
  const insecure = new URL(publicUrl).protocol === 'http:';
  return [
    `On the other machine (README, "Two machines"): the links name this relay at ${publicUrl}`,
    ...(insecure
      ? ['  PAIRLINK_ALLOW_INSECURE_RELAYS=1 pairlink up   # its own agent, opted in to plain http (no TLS)']
      : ['  pairlink up                                    # its own agent']),
    '  pairlink accept                                # in a second terminal there: paste the link',
    ...(insecure
      ? ['An agent already running there (`pairlink agent`) needs the same opt-in in its environment.']
      : []),
  ];
}
