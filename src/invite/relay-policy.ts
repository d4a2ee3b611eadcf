/**
 * Which relays this agent will talk to when an invite names one. Anyone can mint an invite naming
 * any URL, so a relay URL from an invite is untrusted input: accepting it must not let a stranger
 * aim the agent at internal services (cloud metadata, link-local, the agent's own machine) or
 * make it speak plain HTTP across a network. docs/SECURITY.md §Relay URLs from invites.
 */

/** The operator's settings (config `agent`; env PAIRLINK_ALLOW_RELAYS, …). */
export interface RelaySettings {
  /** When not empty, only these: origins (`https://relay.example.org`) or hosts (`*.example.org`). */
  readonly allowRelays: readonly string[];
  /** Never these (same forms); wins over allowRelays. */
  readonly denyRelays: readonly string[];
  /** Plain http to hosts other than loopback (a LAN trial); off by default. */
  readonly allowInsecureRelays: boolean;
}

export const DEFAULT_RELAY_SETTINGS: RelaySettings = {
  allowRelays: [],
  denyRelays: [],
  allowInsecureRelays: false,
};

export type RelayVerdict =
  | { readonly ok: true; readonly origin: string }
  | { readonly ok: false; readonly reason: string };

/** What an address is, as far as the policy cares. */
export type AddressClass =
  | 'loopback'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'other';

/** Never contacted for an invite, whatever the settings: nothing a relay should ever be. */
const NEVER: ReadonlySet<AddressClass> = new Set([
  'link-local',
  'metadata',
  'unspecified',
  'multicast',
  'broadcast',
]);

/** Cloud instance-metadata names (GCP, AWS, Azure, Alibaba, OpenStack). */
const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
  'metadata.tencentyun.com',
]);

/** A relay URL's path: a plain prefix (relays behind a proxy may live under one), nothing else. */
const RELAY_PATH = /^(\/[A-Za-z0-9._~-]+)*\/?$/;

/**
 * Decides whether this agent may contact the relay `candidate` names. `ownRelayUrl` is the relay
 * the operator configured: plain http to loopback is development only when that one is too.
 */
export function checkRelayUrl(candidate: string, ownRelayUrl: string, settings: RelaySettings): RelayVerdict {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return refuse('it is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse(`${url.protocol} is not http(s)`);
  if (url.username || url.password) return refuse('it carries a user name or password');
  if (url.search || url.hash || candidate.includes('?') || candidate.includes('#'))
    return refuse('it carries a query or fragment');
  if (!RELAY_PATH.test(url.pathname)) return refuse('its path is not a plain prefix');
  const origin = url.origin;
  // The relay the operator configured is trusted as configured (it may be plain http on a LAN).
  if (sameOrigin(ownRelayUrl, url) && url.pathname === new URL(ownRelayUrl).pathname)
    return { ok: true, origin };
  if (settings.denyRelays.some((entry) => matches(entry, url)))
    return refuse(`${origin} is in this agent's denyRelays`);
  const allowListed = settings.allowRelays.some((entry) => matches(entry, url));
  if (settings.allowRelays.length > 0 && !allowListed)
    return refuse(`${origin} is not in this agent's allowRelays`);
  const kind = classifyHost(url.hostname);
  if (NEVER.has(kind)) return refuse(`${origin} is a ${kind} address`);
  const own = ownRelayKind(ownRelayUrl);
  if (kind === 'loopback' && !own.loopback)
    return refuse(`${origin} is this machine (loopback), and this agent's own relay is not`);
  if (url.protocol === 'http:') {
    const development = kind === 'loopback' && own.loopback && own.plainHttp;
    // An origin the operator listed with its http:// scheme is allowed as written.
    const listedAsHttp = settings.allowRelays.some((e) => e.includes('://') && sameOrigin(e, url));
    if (!development && !listedAsHttp && !(settings.allowInsecureRelays && kind !== 'loopback'))
      return refuse(`${origin} is plain http (allowInsecureRelays is off)`);
  }
  return { ok: true, origin };
}

/**
 * Decides whether an address a relay's name resolved to may be connected to: the checks of
 * checkRelayUrl that depend on the address, for the DNS answer at connect time.
 */
export function checkRelayAddress(address: string, ownRelayUrl: string): RelayVerdict {
  const bare = bareHost(address);
  const kind = classifyHost(bare.includes(':') ? `[${bare}]` : bare);
  if (NEVER.has(kind)) return refuse(`it resolves to ${address}, a ${kind} address`);
  if (kind === 'loopback' && !ownRelayKind(ownRelayUrl).loopback)
    return refuse(`it resolves to ${address} (loopback), and this agent's own relay is not`);
  return { ok: true, origin: address };
}

/**
 * A URL hostname without the brackets URL keeps around an IPv6 address (`[::1]` → `::1`): the
 * form getaddrinfo and net.connect take, which read `[::1]` as a name that does not exist.
 */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** A URL hostname (IPv6 in brackets, as URL gives it) as the policy sees it. */
export function classifyHost(hostname: string): AddressClass {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[')) return classifyIpv6(host.slice(1, -1));
  const v4 = parseIpv4(host);
  if (v4) return classifyIpv4(v4);
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  if (METADATA_NAMES.has(host)) return 'metadata';
  return 'other';
}

function classifyIpv4([a, b, c, d]: readonly number[]): AddressClass {
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a === 169 && b === 254) return c === 169 && d === 254 ? 'metadata' : 'link-local';
  if (a === 100 && b === 100 && c === 100 && d === 200) return 'metadata'; // Alibaba Cloud
  if (a! >= 224 && a! <= 239) return 'multicast';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'broadcast';
  return 'other';
}

function classifyIpv6(text: string): AddressClass {
  const groups = parseIpv6(text);
  if (!groups) return 'other';
  const zeroes = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (zeroes(8)) return 'unspecified';
  if (zeroes(7) && groups[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and the NAT64 well-known prefix (64:ff9b::/96) reach IPv4.
  const embedded = [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255];
  if (zeroes(5) && groups[5] === 0xffff) return classifyIpv4(embedded);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return classifyIpv4(embedded);
  if ((groups[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if (groups[0]! >> 8 === 0xff) return 'multicast';
  // AWS's IPv6 instance metadata endpoint.
  if (text === 'fd00:ec2::254' || (groups[0] === 0xfd00 && groups[1] === 0xec2 && groups[7] === 0x254))
    return 'metadata';
  return 'other';
}

/** Four octets of a dotted-decimal IPv4 address (URL has already normalised other forms), or null. */
function parseIpv4(host: string): number[] | null {
  const parts = host.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** Eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail), or null. */
function parseIpv6(text: string): number[] | null {
  let body = text.split('%')[0]!;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (tail) {
    const v4 = parseIpv4(tail[1]!);
    if (!v4) return null;
    body = `${body.slice(0, -tail[1]!.length)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const read = (part: string) => (part === '' ? [] : part.split(':'));
  const head = read(halves[0]!);
  const rest = halves.length === 2 ? read(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return all.map((g) => Number.parseInt(g, 16));
}

function ownRelayKind(ownRelayUrl: string): { loopback: boolean; plainHttp: boolean } {
  const own = new URL(ownRelayUrl);
  return { loopback: classifyHost(own.hostname) === 'loopback', plainHttp: own.protocol === 'http:' };
}

/** An allow/deny entry: an origin (with its scheme), or a host (`*.example.org`: its subdomains). */
function matches(entry: string, url: URL): boolean {
  if (entry.includes('://')) return sameOrigin(entry, url);
  const pattern = entry.toLowerCase();
  const host = url.hostname.toLowerCase();
  return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern;
}

function sameOrigin(entry: string, url: URL): boolean {
  try {
    return new URL(entry).origin === url.origin;
  } catch {
    return false;
  }
}

const refuse = (reason: string): RelayVerdict => ({ ok: false, reason });
