import type { AuditEntry, AuditIntegrity } from '../../src/rpc/protocol.js';
import { parseDuration, withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
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
    case 'unpairedByPeer':
      return `${entry.at}  unpaired by the peer${peer}`;
    case 'noticeSent':
    case 'noticeReceived':
      return `${entry.at}  ${entry.notice} notice ${entry.event === 'noticeSent' ? 'sent to' : 'from'}${peer || ' an unknown sender'}: ${entry.verdict}`;
    case 'lost': {
      const n = entry.lost ?? 1;
      return `${entry.at}  ${n} ${n === 1 ? 'entry' : 'entries'} before this one could not be written (the agent's log said why)`;
    }
    default:
      return `${entry.at}  ${subject} ${entry.event}${code}${peer}${who(entry)}`;
  }
}

/** What the chain says, in one sentence (history.list's `integrity`). */
export function integrityLine(integrity: AuditIntegrity): string {
  const at = integrity.brokenAt ?? 0;
  const gone = integrity.missing ?? 1;
  const range = gone > 1 ? `entries ${at} to ${at + gone - 1} are` : `entry ${at} is`;
  const broken: Record<NonNullable<AuditIntegrity['reason']>, string> = {
    missing: `${range} missing (lines were deleted)`,
    truncated: `the last ${gone > 1 ? `${gone} entries` : 'entry'} (from ${at} on) ${gone > 1 ? 'are' : 'is'} missing (the log was cut short)`,
    repeated: `entry ${at} appears again or out of place (lines were copied or moved)`,
    damaged: `the line where entry ${at} should be does not open (edited, or not written by this agent)`,
    replaced: `entry ${at} does not follow the one before it (replaced from another log)`,
  };
  const before =
    integrity.beforeChain > 0
      ? ` (${integrity.beforeChain} older entries were written before the chain and cannot be checked)`
      : '';
  if (integrity.ok) return `History intact: ${integrity.checked} entries checked${before}.`;
  return `Warning: the history was altered: ${broken[integrity.reason ?? 'damaged']}${before}.`;
}

export const logCommand: Command = {
  summary: [
    "The agent's history: who minted each invite (a CLI user, a script, or a chat user through a",
    'bot), who joined with it (did and name), and what failed, was cancelled, expired or unpaired.',
    'Kept sealed under the state key, the last 5,000 to 10,000 entries, each chained to the one',
    'before: the last line says whether the history is intact or where it was altered.',
    '',
    'Options:',
    '  --since <duration>   only the last 10m, 24h, 7d, … (default: everything kept)',
    "  --verify             only the verdict (with --json: history.verify's answer); exit 1 when altered",
    '  --json               the entries as a JSON array (history.list); the verdict is --verify --json',
  ].join('\n'),
  usage: 'pairlink log [--since 1d] [--verify] [--json]',
  options: { since: { type: 'string' }, verify: { type: 'boolean' } },
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
      if (values.verify) {
        const integrity = await client.call('history.verify', {});
        if (values.json) printJson(io, integrity);
        else if (integrity.ok) io.out(integrityLine(integrity));
        else io.err(integrityLine(integrity));
        return integrity.ok ? 0 : EXIT.failed;
      }
      const entries = await client.call('history.list', since ? { since } : {});
      if (values.json) {
        printJson(io, entries);
        return 0;
      }
      const integrity = await client.call('history.verify', {});
      if (entries.length === 0) io.out('Nothing yet.');
      for (const entry of entries) io.out(line(entry));
      if (integrity.ok) io.out(integrityLine(integrity));
      else io.err(integrityLine(integrity));
      return 0;
    });
  },
};
