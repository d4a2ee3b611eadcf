import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';

export const unpairCommand: Command = {
  summary: [
    'Unpin a peer and tell it so: an unpair notice, retried for 30 days until the peer answers,',
    'makes it unpin this agent too. A peer without an inbox (an older version) is unpinned here',
    'only, and the output says so; --local-only unpins here only and tells the peer nothing.',
  ].join('\n'),
  usage: 'pairlink unpair <did> [--local-only] [--json]',
  options: { 'local-only': { type: 'boolean' } },
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('unpair takes one did (see pairlink peers)');
    const localOnly = values['local-only'] === true;
    return withAgent(async (client) => {
      const { removed, notified } = await client.call('peer.remove', { did: positionals[0]!, localOnly });
      if (values.json) printJson(io, { removed, notified });
      else if (!removed) io.out('No such peer.');
      else if (notified) io.out('Unpinned; the peer is being told (it unpins this agent once it hears it).');
      else if (localOnly) io.out('Unpinned here only; the peer still lists this agent.');
      else
        io.out('Unpinned here only: the peer has no inbox (an older version), so it still lists this agent.');
      return removed ? 0 : 1;
    });
  },
};
