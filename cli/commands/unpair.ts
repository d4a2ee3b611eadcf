import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';

export const unpairCommand: Command = {
  summary: 'Unpin a peer.',
  usage: 'pairlink unpair <did> [--json]',
  options: {},
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('unpair takes one did (see pairlink peers)');
    return withAgent(async (client) => {
      const { removed } = await client.call('peer.remove', { did: positionals[0]! });
      if (values.json) printJson(io, { removed });
      else io.out(removed ? 'Unpinned.' : 'No such peer.');
      return removed ? 0 : 1;
    });
  },
};
