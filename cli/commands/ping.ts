import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';

export const pingCommand: Command = {
  summary: 'Ask a peer whether it is reachable (a ping notice through its inbox; its receipt is the pong).',
  usage: 'pairlink ping <did> [--wait <seconds>] [--json]',
  options: { wait: { type: 'string' } },
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('ping takes one did (see pairlink peers)');
    const wait = values.wait === undefined ? undefined : Number(values.wait);
    if (wait !== undefined && !(Number.isFinite(wait) && wait >= 1 && wait <= 600))
      throw new UsageError('--wait takes a number of seconds from 1 to 600');
    return withAgent(async (client) => {
      const pong = await client.call('peer.ping', {
        did: positionals[0]!,
        ...(wait === undefined ? {} : { waitSeconds: wait }),
      });
      if (values.json) printJson(io, pong);
      else io.out(pong.reachable ? `Reachable (${pong.rttMs} ms).` : 'No answer (not reachable now).');
      return pong.reachable ? 0 : 1;
    });
  },
};
