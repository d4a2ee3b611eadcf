import type { Logger } from 'pino';
import type { RandomSource } from '../src/crypto/random.js';
import { PairlinkError } from '../src/errors.js';
import { CAPABILITY_LENGTH } from '../src/invite/invite-url.js';
import type { NoticeOutbox } from './notice-outbox.js';
import type { AgentState, InboxRecord, PeerRecord } from './state/agent-state.js';

export interface InboxMoveDeps {
  readonly outbox: Pick<NoticeOutbox, 'queueMove'>;
  readonly random: RandomSource;
  readonly logger: Logger;
}

/**
 * The agent's home relay changed (PROTOCOL.md §11.3, inbox-moved): its inbox was made anew on the
 * new relay, and every peer with an inbox is handed a capability to it drawn for that peer alone
 * (a writer owed, added by agent-inbox.ts) in an inbox-moved notice, queued in the same save as
 * the new inbox, so a crash cannot leave a peer holding a capability the relay never hears of or
 * never hearing of one it holds. The notice is retried for 30 days: a peer offline meanwhile
 * catches up when it comes back, and our notices already on their way follow it (notice-outbox.ts
 * posts to a peer's inbox as pinned now). Peers without an inbox, and other devices of this
 * identity, cannot be told: they are named in one log line.
 */
export function announceMove(deps: InboxMoveDeps, state: AgentState, inbox: InboxRecord): AgentState {
  let next = state;
  const untold: string[] = [];
  for (const peer of state.peers) {
    if (peer.relation === 'device') continue;
    if (!peer.inbox) {
      untold.push(peer.name);
      continue;
    }
    const writeCapability = deps.random(CAPABILITY_LENGTH);
    const handed: PeerRecord = { ...peer, handedWriteCapability: writeCapability, writerAdded: false };
    try {
      next = deps.outbox.queueMove(withPeer(next, handed), handed, {
        relayUrl: inbox.relayUrl,
        mailboxId: inbox.mailboxId,
        writeCapability,
      }).state;
    } catch (error) {
      if (!(error instanceof PairlinkError) || error.code !== 'NOTICE_QUEUE_FULL') throw error;
      untold.push(peer.name);
    }
  }
  deps.logger.info(
    { relay: inbox.relayUrl, told: state.peers.length - untold.length, untold },
    untold.length === 0
      ? 'the home relay changed: the inbox moved with it, and every peer is told'
      : 'the home relay changed: the inbox moved with it; the peers named cannot be told (no inbox, or 16 notices already waiting for them) and post to the old one until they pair again',
  );
  return next;
}

function withPeer(state: AgentState, peer: PeerRecord): AgentState {
  return { ...state, peers: state.peers.map((p) => (p.did === peer.did ? peer : p)) };
}
