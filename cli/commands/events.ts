import type { PairlinkEvent } from '../../client/index.js';
import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';

/** One human line for a notification. */
function line(event: PairlinkEvent): string {
  if (event.method === 'peer.removed') {
    const p = event.params;
    return `${p.at}  peer removed  ${p.name} (${p.did})${p.reason === 'peer' ? '  by the peer' : ''}`;
  }
  if (event.method === 'peer.moved') {
    const p = event.params;
    return `${p.at}  peer moved  ${p.name} (${p.did}) to ${p.relayUrl}`;
  }
  if (event.method === 'peer.rotated') {
    const p = event.params;
    return `${p.at}  peer rotated  ${p.name} ${p.previousDid} -> ${p.did} (${p.reason})`;
  }
  const p = event.params;
  return `${p.at}  ${p.role} ${p.id}  ${p.status}${p.peer?.name ? `  ${p.peer.name}` : ''}${p.error?.code ? `  ${p.error.code}` : ''}`;
}

export const eventsCommand: Command = {
  summary: [
    'Stream what happens: invite progress (published, accepted, sas, paired, unconfirmed, expired,',
    'cancelled, failed), peers removed, rotated and moved, one line each, until interrupted. With',
    '--json, NDJSON: {"method":"invite.progress"|"peer.removed"|"peer.rotated"|"peer.moved","params":{…}}',
    'per line.',
  ].join('\n'),
  usage: 'pairlink events [--json]',
  options: {},
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const ended = new Promise<number>((resolve) => {
        client.onClose(() => resolve(EXIT.unavailable));
        process.once('SIGINT', () => resolve(EXIT.ok));
        process.once('SIGTERM', () => resolve(EXIT.ok));
      });
      client.onEvent((event) => {
        if (values.json) io.out(JSON.stringify(event));
        else io.out(line(event));
      });
      await client.subscribe();
      return ended;
    }),
};
