import type { AuditEntry } from '../../src/rpc/protocol.js';
import { parseDuration, withAgent } from '../agent-connection.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

function who(entry: AuditEntry): string {
  const by = entry.by;
  if (!by) return '';
  if (by.kind === 'bot')
    return ` by ${by.user ?? 'someone'} via ${by.chat ?? 'a bot'}${by.channel ? ` in ${by.channel}` : ''}`;
  return ` by ${by.kind === 'cli' ? `${by.user ?? 'someone'} (CLI)` : 'a script'}`;
}

function line(entry: AuditEntry): string {
  const subject = entry.invite ? `invite ${entry.invite}` : entry.accept ? `accept ${entry.accept}` : '';
  const peer = entry.peer ? ` ${entry.peer.name} (${entry.peer.did})` : '';
  const code = entry.code ? ` ${entry.code}` : '';
  switch (entry.event) {
    case 'minted':
      return `${entry.at}  minted ${subject}${who(entry)}`;
    case 'paired':
      return `${entry.at}  ${subject} paired with${peer}${who(entry)}`;
    case 'unpaired':
      return `${entry.at}  unpaired${peer}`;
    default:
      return `${entry.at}  ${subject} ${entry.event}${code}${peer}${who(entry)}`;
  }
}

export const logCommand: Command = {
  summary: [
    "The agent's history: who minted each invite (a CLI user, a script, or a chat user through a",
    'bot), who joined with it (did and name), and what failed, was cancelled, expired or unpaired.',
    'Kept sealed under the state key, the last 5,000 to 10,000 entries.',
    '',
    'Options:',
    '  --since <duration>   only the last 10m, 24h, 7d, … (default: everything kept)',
  ].join('\n'),
  usage: 'pairlink log [--since 1d] [--json]',
  options: { since: { type: 'string' } },
  allowPositionals: false,
  run: ({ values, io }) => {
    let since: string | undefined;
    if (values.since !== undefined) {
      try {
        since = new Date(Date.now() - parseDuration(values.since as string, '--since') * 1000).toISOString();
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
    return withAgent(async (client) => {
      const entries = await client.call('history.list', since ? { since } : {});
      if (values.json) printJson(io, entries);
      else if (entries.length === 0) io.out('Nothing yet.');
      else for (const entry of entries) io.out(line(entry));
      return 0;
    });
  },
};
