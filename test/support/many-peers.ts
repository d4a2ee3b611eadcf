import { randomBytes } from 'node:crypto';
import type { PeerRecord } from '../../agent/state/agent-state.js';
import { applyChange, type Change, type Snapshot } from '../../agent/state/state-changes.js';
import { issueCard } from '../../src/identity/card.js';
import { Identity } from '../../src/identity/identity.js';
import { CAPABILITY_LENGTH, MAILBOX_ID_LENGTH } from '../../src/invite/invite-url.js';
import { persistedState, writeState } from './state-secrets.js';

const random = (n: number) => new Uint8Array(randomBytes(n));

/**
 * A peer record as pairing leaves one, without the pairing: a real card (keys made by
 * src/identity, signed), the peer's own inbox on `relayUrl`, a next-key commitment, and a write
 * capability to our inbox drawn for it alone, not yet added at the relay (the agent adds it).
 * Pairing costs ~20 ms of CPU a side; this ~1 ms, so 10,000 peers take seconds, not minutes.
 */
export function syntheticPeer(index: number, relayUrl: string, pairedAt: number): PeerRecord {
  const { identity } = Identity.generate(random);
  const name = `peer-${index}`;
  return {
    did: identity.did,
    name,
    card: issueCard(identity, name, relayUrl, pairedAt).bytes,
    pairedAt: new Date(pairedAt * 1000).toISOString(),
    relayUrl,
    relation: 'peer',
    confirmed: true,
    inbox: { relayUrl, mailboxId: random(MAILBOX_ID_LENGTH), writeCapability: random(CAPABILITY_LENGTH) },
    nextKeyCommitment: random(32),
    handedWriteCapability: random(CAPABILITY_LENGTH),
    writerAdded: false,
  };
}

/**
 * Adds `count` synthetic peers to a stopped agent's state, through its own sealed log (its file
 * keystore's key, as test/support/agent-process.ts starts it; its log's entries folded into one
 * snapshot): what the agent finds at its next
 * start is what `count` pairings would have left, each capability owed as a writer.
 */
export async function addSyntheticPeers(
  home: string,
  name: string,
  relayUrl: string,
  count: number,
): Promise<PeerRecord[]> {
  const { snapshot, changes } = await persistedState(home, name);
  if (!snapshot) throw new Error(`no state in ${home}`);
  const now = Math.floor(Date.now() / 1000);
  const peers = Array.from({ length: count }, (_, i) => syntheticPeer(i + 1, relayUrl, now));
  let stored = snapshot as Snapshot;
  for (const change of changes as Change[]) stored = applyChange(stored, change);
  const state = { ...stored.state, peers: [...stored.state.peers, ...peers] };
  await writeState(home, name, { ...stored, state }, []);
  return peers;
}
