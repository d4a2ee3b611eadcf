import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { PairlinkError } from '../src/errors.js';
import { bareHost, checkRelayAddress } from '../src/invite/relay-policy.js';

/**
 * A `lookup` for sockets to a relay named by an invite: the name is resolved here, right before
 * connecting, every address it resolves to is checked (checkRelayAddress: never link-local,
 * metadata, unspecified, multicast or broadcast; loopback only when this agent's own relay is on
 * loopback), and the socket connects to the addresses that were checked, so a name that passed
 * the URL check cannot be re-pointed at an internal address between the check and the connect
 * (DNS rebinding). One refused address refuses the name (RELAY_REFUSED).
 */
export function checkedRelayLookup(ownRelayUrl: string): LookupFunction {
  return (name, options, callback) => {
    const hostname = bareHost(name); // a URL's [::1] is not a name getaddrinfo knows
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = addresses
        .map((a) => checkRelayAddress(a.address, ownRelayUrl))
        .find((verdict) => !verdict.ok);
      if (refused && !refused.ok)
        return callback(new PairlinkError('RELAY_REFUSED', `relay ${hostname}: ${refused.reason}`), '', 0);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first)
        return callback(new PairlinkError('RELAY_UNREACHABLE', `relay ${hostname}: no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
