import { parseDuration, withAgent } from '../agent-connection.js';
import { EXIT } from '../exit-codes.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

export const acceptCommand: Command = {
  summary: [
    'Accept an invite link or code: pair with its issuer.',
    '',
    'Options:',
    '  --wait <duration>   how long to wait for the issuer (default 30s); after that the pairing',
    '                      goes on in the background and this exits 4 with status "pending"',
    '  --require-sas       stop at the security code; confirm with `pairlink rpc accept.confirmSas`',
  ].join('\n'),
  usage: "pairlink accept '<invite-url-or-code>' [--wait 30s] [--require-sas] [--json]",
  options: { wait: { type: 'string' }, 'require-sas': { type: 'boolean' } },
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('accept takes exactly one invite (quote it)');
    let waitSeconds: number;
    try {
      waitSeconds = values.wait === undefined ? 30 : parseDuration(values.wait as string, '--wait');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return withAgent(async (client) => {
      if (!values.json) {
        await client.call('events.subscribe', {});
        client.onProgress((p) => {
          if (p.role === 'acceptor' && p.status === 'sas')
            io.err('  security code ready: compare it with the other side');
        });
        io.err('Pairing… (waiting for the issuer’s agent)');
      }
      const result = await client.call('invite.accept', {
        invite: positionals[0]!,
        waitSeconds,
        ...(values['require-sas'] ? { requireSas: true } : {}),
      });
      if (values.json)
        printJson(io, { status: result.status, ...(result.peer ? { peer: result.peer } : {}) });
      else if (result.status === 'paired') io.out(`Paired with ${result.peer?.name} (${result.peer?.did})`);
      else {
        io.out(
          `Still pending (accept ${result.acceptId}); it completes in the background when the issuer's agent answers.`,
        );
        if (result.sas) io.out(`  security code: ${result.sas.digits}  ${result.sas.emoji}`);
      }
      return result.status === 'paired' ? EXIT.ok : EXIT.pending;
    });
  },
};
