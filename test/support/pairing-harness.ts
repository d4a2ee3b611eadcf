import type { RandomSource } from '../../src/crypto/random.js';
import type { Party } from '../../src/handshake/in-memory-host.js';
import { issueCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
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
  const source = random ?? seededRandom(`party:${name}`);
  const { identity, secrets } = Identity.generate(source);
  const card = issueCard(identity, name, relayUrl, now).bytes;
  return { name, identity, secrets, card, random: source, effects: [] };
}
