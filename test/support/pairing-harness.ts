import type { RandomSource } from '../../src/crypto/random.js';
import type { AcceptTarget } from '../../src/handshake/acceptor.js';
import { IssuerDriver, MemoryExchange, newParty, type Party } from '../../src/handshake/in-memory-host.js';
import { mintCodeInvite, mintUrlInvite } from '../../src/handshake/mint.js';
import { resolveInvitePolicy } from '../../src/invite/invite-policy.js';
import { parseInviteUrl } from '../../src/invite/invite-url.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { seededRandom } from './seeded-random.js';

export {
  AcceptorDriver,
  contextOf,
  effectsOf,
  IssuerDriver,
  MemoryExchange,
  type Party,
  runUntilQuiet,
} from '../../src/handshake/in-memory-host.js';

/** A party with a deterministic identity derived from its name. */
export function makeParty(
  name: string,
  now: number,
  relayUrl = 'https://relay.example',
  random?: RandomSource,
): Party {
  return newParty(name, relayUrl, now, random ?? seededRandom(`party:${name}`));
}

type PolicyRequest = Parameters<typeof resolveInvitePolicy>[0];

/** Alice's URL invite, her issuer machine on an in-memory exchange, and targets for acceptors. */
export function urlSetup(options: PolicyRequest = {}, now = 1_800_000_000) {
  const exchange = new MemoryExchange(now);
  const alice = makeParty('alice', now);
  const minted = mintUrlInvite(
    alice.identity,
    resolveInvitePolicy(options),
    'https://relay.example',
    now,
    alice.random,
  );
  const issuer = new IssuerDriver(alice, minted.issuer, exchange);
  const target = (url = minted.webUrl): AcceptTarget => ({
    form: 'url',
    invite: parseInviteUrl(url, exchange.now),
  });
  return { exchange, alice, minted, issuer, target };
}

/** Alice's code invite (nameplate K7Q) and targets as the relay's nameplate claim hands them out. */
export function codeSetup(options: PolicyRequest = {}, now = 1_800_000_000) {
  const exchange = new MemoryExchange(now);
  const alice = makeParty('alice', now);
  const mailboxId = alice.random(16);
  const policy = resolveInvitePolicy({ format: 'code', ...options });
  const minted = mintCodeInvite(policy, 'K7Q', mailboxId, now, alice.random);
  const issuer = new IssuerDriver(alice, minted.issuer, exchange);
  const target = (text = minted.text): AcceptTarget => ({
    form: 'code',
    code: parseShortCode(text),
    // What the relay's nameplate claim hands the acceptor.
    issuerMailbox: { mailboxId, writeCapability: new Uint8Array(16).fill(9) },
    expiresAt: now + policy.ttlSeconds,
  });
  return { exchange, alice, minted, issuer, target, mailboxId };
}
