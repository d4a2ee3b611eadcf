import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';

export const rpcCommand: Command = {
  summary: [
    'Call any agent method with JSON params and print the result. The methods, their params,',
    'results and errors: docs/RPC.md, or `pairlink rpc rpc.discover` (OpenRPC).',
  ].join('\n'),
  usage: 'pairlink rpc <method> [\'{"json":"params"}\']',
  options: {},
  allowPositionals: true,
  run: ({ positionals, io }) => {
    if (positionals.length < 1 || positionals.length > 2)
      throw new UsageError('rpc takes a method and optional JSON params');
    let params: unknown = {};
    if (positionals[1] !== undefined) {
      try {
        params = JSON.parse(positionals[1]);
      } catch {
        throw new UsageError('params must be JSON');
      }
    }
    return withAgent(async (client) => {
      printJson(io, await client.request(positionals[0]!, params));
      return 0;
    });
  },
};
