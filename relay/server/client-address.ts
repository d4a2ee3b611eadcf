/** The most X-Forwarded-For entries looked at; a proxy chain is a few hops, a longer list is noise. */
const MAX_FORWARDED_ENTRIES = 32;

/**
 * The client's address for rate limits and per-address caps. With `trustedHops` 0 it is the
 * socket's peer. Behind proxies it is taken from X-Forwarded-For, where each proxy appends the
 * address it was reached from: with `trustedHops` N (the proxies in front of the relay that the
 * operator runs or trusts), the Nth entry from the right is the one the outermost trusted proxy
 * saw, the nearest thing to the client nobody else could write. Entries left of it are the
 * client's to invent, so they are never used; a shorter list (a request that came through fewer
 * proxies) gives its leftmost entry, which a trusted proxy wrote. No header: the socket's peer.
 */
export function clientAddress(
  forwardedFor: string | readonly string[] | undefined,
  socketAddress: string | undefined,
  trustedHops: number,
): string {
  const peer = socketAddress ?? 'unknown';
  if (trustedHops <= 0 || forwardedFor === undefined) return peer;
  const header = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',');
  const entries = header
    .split(',')
    .slice(-MAX_FORWARDED_ENTRIES)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return peer;
  return entries[Math.max(0, entries.length - trustedHops)]!.slice(0, 64);
}
