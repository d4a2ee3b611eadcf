import { peerListLines } from '../render.js';
import type { Answer, CommandContext } from '../run-command.js';

/** The agent's paired peers. */
export async function listPeers<W extends Record<string, string>>({
  agent,
}: CommandContext<W>): Promise<Answer> {
  return { lines: peerListLines(await agent.call('peer.list', {})) };
}
