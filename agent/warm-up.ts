import { pooledRandom } from '../io/random-pool.js';
import { MemoryExchange, newParty, runUntilQuiet, setUpPairing } from '../src/handshake/in-memory-host.js';

/** Whole pairings run in memory at start: enough for every function on the path to be compiled. */
export const WARM_UP_PAIRINGS = 32;

/**
 * Runs whole pairings in memory (both state machines, every frame, throwaway identities, no relay,
 * no disk), alternating link and code invites, one per event-loop turn, so the agent's first real
 * pairing does not pay for compiling the handshake's code: V8 compiles a function on its first
 * call and optimises it only after many, and a fresh agent's first pairing spent ~8 ms in each
 * of the acceptor's two later steps against ~2 once warm. Measured here: an agent's first
 * pairing 44–52 ms against 57–69 without it, and the next ones 17–18 ms against 21–25 (12
 * rounds gave 21–25). It touches no state and nothing leaves the process; each round is one
 * event-loop turn of ~2–4 ms, so requests are served in between; `stopped()` ends it early (the
 * agent is stopping). About 100 ms of CPU in all, once, after `agent ready`. Resolves with the
 * number of rounds that ended paired.
 */
export async function warmHandshake(stopped: () => boolean, pairings = WARM_UP_PAIRINGS): Promise<number> {
  const random = pooledRandom();
  const now = Math.floor(Date.now() / 1000);
  const relayUrl = 'https://relay.invalid';
  const issuer = newParty('warm-up issuer', relayUrl, now, random);
  const acceptor = newParty('warm-up acceptor', relayUrl, now, random);
  let paired = 0;
  for (let i = 0; i < pairings && !stopped(); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const pairing = setUpPairing(
      i % 2 === 0 ? 'url' : 'code',
      { ...issuer, effects: [] },
      { ...acceptor, effects: [] },
      new MemoryExchange(now),
      relayUrl,
    );
    runUntilQuiet(pairing.issuer, [pairing.acceptor]);
    if (pairing.acceptor.state.phase === 'paired') paired++;
  }
  return paired;
}
