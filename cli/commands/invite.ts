import { formatDuration } from '../../src/duration.js';
import { relayBesideCode } from '../../src/invite/code-relay.js';
import {
  type InviteFormat,
  type InviteMode,
  MAX_INVITE_USES,
  ttlRange,
} from '../../src/invite/invite-policy.js';
import { parseDuration, withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson, UsageError } from '../output.js';
import { terminalQr } from '../qr.js';

export const inviteCommand: Command = {
  summary: [
    'Mint an invite: a link (default) or a short code to read aloud.',
    '',
    'Options:',
    '  --format url|code    link (24 h default) or code (10 min default)',
    `  --ttl <duration>     lifetime, e.g. 600, 10m, 24h: ${rangeWords('url', 'peer')} for a link,`,
    `                       ${rangeWords('code', 'peer')} for a code, ${rangeWords('url', 'device')} for a device invite`,
    `  --uses <n>           how many distinct peers may use it: 1 to ${MAX_INVITE_USES} (default 1)`,
    '  --mode peer|device   device: hand this identity to another device of yours (SAS required)',
    '  --label <text>       a note for `pairlink invites`',
    '  --require-sas        pin only after you confirm the security code with the other side',
    '  --qr / --no-qr       draw the link as a QR code (default: only when the output is a terminal)',
  ].join('\n'),
  usage:
    'pairlink invite [--format url|code] [--ttl 10m] [--uses N] [--mode peer|device] [--label L] [--require-sas] [--qr|--no-qr] [--json]',
  options: {
    format: { type: 'string' },
    ttl: { type: 'string' },
    uses: { type: 'string' },
    mode: { type: 'string' },
    label: { type: 'string' },
    'require-sas': { type: 'boolean' },
    qr: { type: 'boolean' },
    'no-qr': { type: 'boolean' },
  },
  allowPositionals: false,
  run: ({ values, io }) => {
    const format = values.format as string | undefined;
    const mode = values.mode as string | undefined;
    if (format !== undefined && format !== 'url' && format !== 'code')
      throw new UsageError('--format is url or code');
    if (mode !== undefined && mode !== 'peer' && mode !== 'device')
      throw new UsageError('--mode is peer or device');
    let ttlSeconds: number | undefined;
    try {
      ttlSeconds = values.ttl === undefined ? undefined : parseDuration(values.ttl as string, '--ttl');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const uses = values.uses === undefined ? undefined : Number(values.uses);
    checkRanges(ttlSeconds, uses, format as InviteFormat | undefined, mode as InviteMode | undefined, values);
    return withAgent(async (client) => {
      const { userInfo } = await import('node:os');
      const created = await client.call('invite.create', {
        creator: { kind: 'cli', user: userInfo().username.slice(0, 200) || 'unknown' },
        ...(format ? { format: format as 'url' | 'code' } : {}),
        ...(mode ? { mode: mode as 'peer' | 'device' } : {}),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        ...(uses !== undefined ? { uses } : {}),
        ...(values.label ? { label: values.label as string } : {}),
        ...(values['require-sas'] ? { requireSas: true } : {}),
      });
      if (values.json) {
        printJson(io, {
          id: created.id,
          ...(created.url ? { url: created.url } : { code: created.code }),
          relayUrl: created.relayUrl,
          ...(created.customUrl ? { customUrl: created.customUrl } : {}),
          expiresAt: created.expiresAt,
          usesLeft: created.usesLeft,
        });
        return 0;
      }
      const drawQr = values.qr === true || (io.isTty && values['no-qr'] !== true);
      if (drawQr && created.url) io.out((await terminalQr(created.url)).replace(/\n+$/, ''));
      io.out(created.url ?? created.code ?? '');
      // To a file or a pipe, stdout carries the invite alone (`pairlink accept < invite.txt`
      // reads it whole); the lines for the person go to stderr.
      const say = io.isTty ? io.out : io.err;
      if (created.customUrl) say(`  (or ${created.customUrl})`);
      say(
        `  invite ${created.id} · expires ${created.expiresAt} · ${created.usesLeft} use${created.usesLeft === 1 ? '' : 's'}${created.requireSas ? ' · SAS check required' : ''}`,
      );
      // A code carries no relay: the other side claims it on this one, so it is said beside it
      // (unless it is the built-in default, which every agent assumes).
      const relay = relayBesideCode(created);
      const relayFlag = relay ? ` --relay ${relay}` : '';
      if (relay) say(`  relay ${relay}`);
      say(
        `  on the other machine: pairlink accept${relayFlag}   (and paste it when asked: it stays off screen)`,
      );
      if (created.requireSas)
        say(`  then compare the security code: pairlink invites, pairlink confirm ${created.id} yes|no`);
      return 0;
    });
  },
};

/** "30s to 7d": the ttl range of a form and mode, in the words --ttl takes. */
function rangeWords(format: InviteFormat, mode: InviteMode): string {
  const { min, max } = ttlRange(format, mode);
  return `${formatDuration(min)} to ${formatDuration(max)}`;
}

/**
 * Flags out of range are usage errors that name the range, checked here before the agent is
 * asked (its schema's words are for scripts). Without --format the link's range applies; an agent
 * configured to mint codes by default still refuses a code's ttl over 1h itself.
 */
function checkRanges(
  ttlSeconds: number | undefined,
  uses: number | undefined,
  format: InviteFormat | undefined,
  mode: InviteMode | undefined,
  values: Record<string, unknown>,
): void {
  const kind = mode === 'device' ? 'a device invite' : format === 'code' ? 'a code' : 'a link';
  if (ttlSeconds !== undefined) {
    const { min, max } = ttlRange(format ?? 'url', mode ?? 'peer');
    if (ttlSeconds < min || ttlSeconds > max)
      throw new UsageError(
        `--ttl is between ${formatDuration(min)} and ${formatDuration(max)} for ${kind}, not ${values.ttl}`,
      );
  }
  if (uses !== undefined && (!Number.isInteger(uses) || uses < 1 || uses > MAX_INVITE_USES))
    throw new UsageError(`--uses is between 1 and ${MAX_INVITE_USES}, not ${values.uses}`);
  if (uses !== undefined && uses !== 1 && mode === 'device')
    throw new UsageError('--uses is 1 for a device invite (it hands over this identity once)');
}
