import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson } from '../output.js';

export const peersCommand: Command = {
  summary: 'List pinned peers (and other devices of this identity).',
  usage: 'pairlink peers [--json]',
  options: {},
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const peers = await client.call('peer.list', {});
      if (values.json)
        printJson(
          io,
          peers.map((p) => ({
            did: p.did,
            name: p.name,
            pairedAt: p.pairedAt,
            confirmed: p.confirmed,
            inbox: p.inbox,
            ...(p.lastContact ? { lastContact: p.lastContact } : {}),
          })),
        );
      else if (peers.length === 0) io.out('No peers yet.');
      else
        for (const p of peers)
          io.out(
            `${p.name}  ${p.did}  ${p.fingerprint}  since ${p.pairedAt}${p.lastContact ? `  last contact ${p.lastContact}` : ''}${p.relation === 'device' ? '  (device)' : ''}${p.confirmed ? '' : '  (unconfirmed: the peer never acknowledged this pairing)'}`,
          );
      return 0;
    }),
};
