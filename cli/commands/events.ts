import { withAgent } from '../agent-connection.js';
import { EXIT } from '../exit-codes.js';
import type { Command } from '../main.js';

/** One human line for a notification. */
function line(method: string, params: Record<string, unknown>): string {
  if (method === 'peer.removed') return `${params.at}  peer removed  ${params.name} (${params.did})`;
  const peer = params.peer as { name?: string } | undefined;
  const error = params.error as { code?: string } | undefined;
  return `${params.at}  ${params.role} ${params.id}  ${params.status}${peer?.name ? `  ${peer.name}` : ''}${error?.code ? `  ${error.code}` : ''}`;
}

export const eventsCommand: Command = {
  summary: [
    'Stream what happens: invite progress (published, accepted, sas, paired, unconfirmed, expired,',
    'cancelled, failed) and peers removed, one line each, until interrupted. With --json, NDJSON:',
    '{"method":"invite.progress"|"peer.removed","params":{…}} per line, for scripts.',
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
      client.onNotification((method, params) => {
        if (values.json) io.out(JSON.stringify({ method, params }));
        else io.out(line(method, params as Record<string, unknown>));
      });
      await client.call('events.subscribe', {});
      return ended;
    }),
};
