import { DEFAULT_RELAY_URL } from '../config/schema.js';

/**
 * The relay to show beside an invite, or undefined when there is none to show. A link names its
 * relay itself; a code carries none, so whoever accepts it must be told the relay it was minted
 * on (`pairlink accept --relay <url>`), unless that is the built-in default every agent assumes.
 * Not the showing agent's own relay either: the people a code reaches need not use that one.
 */
export function relayBesideCode(invite: {
  readonly code?: string | undefined;
  readonly relayUrl?: string | undefined;
}): string | undefined {
  return invite.code && invite.relayUrl && invite.relayUrl !== DEFAULT_RELAY_URL
    ? invite.relayUrl
    : undefined;
}
