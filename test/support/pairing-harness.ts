import type { RandomSource } from '../../src/crypto/random.js';
import { newParty, type Party } from '../../src/handshake/in-memory-host.js';
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
