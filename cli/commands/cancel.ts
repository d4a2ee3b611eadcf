import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';

export const cancelCommand: Command = {
  summary: 'Cancel an invite now; anyone mid-way through accepting it is told.',
  usage: 'pairlink cancel <invite-id> [--json]',
  options: {},
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('cancel takes one invite id (see pairlink invites)');
    return withAgent(async (client) => {
      const invite = await client.call('invite.cancel', { id: positionals[0]! });
      if (values.json) printJson(io, { id: invite.id, status: invite.status });
      else io.out(`Invite ${invite.id} cancelled.`);
      return 0;
    });
  },
};
