import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson } from '../output.js';

export const whoamiCommand: Command = {
  summary: "Show this agent's identity: did, name and fingerprint.",
  usage: 'pairlink whoami [--json]',
  options: {},
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const identity = await client.call('identity.get', {});
      if (values.json) printJson(io, { did: identity.did, name: identity.name });
      else
        io.out(
          `${identity.name}\n  did          ${identity.did}\n  fingerprint  ${identity.fingerprint}\n  relay        ${identity.relayUrl}`,
        );
      return 0;
    }),
};
