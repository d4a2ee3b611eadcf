import { parseDuration, withAgent } from '../agent-connection.js';
import { EXIT } from '../exit-codes.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

async function askYesNo(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const acceptCommand: Command = {
  summary: [
    'Accept an invite link or code: pair with its issuer.',
    '',
    'Options:',
    '  --wait <duration>   how long to wait for the issuer (default 30s); after that the pairing',
    '                      goes on in the background and this exits 4 with status "pending"',
    '  --require-sas       stop at the security code (also when the issuer asks for one): in a',
    '                      terminal you are asked whether it matches; otherwise this exits 4 and',
    '                      you answer with `pairlink confirm <accept-id> yes|no`',
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
      let result = await client.call('invite.accept', {
        invite: positionals[0]!,
        waitSeconds,
        ...(values['require-sas'] ? { requireSas: true } : {}),
      });
      if (result.status === 'pending' && result.sas && !values.json && io.isTty && process.stdin.isTTY) {
        io.out(`Security code: ${result.sas.digits}  ${result.sas.emoji}`);
        const match = await askYesNo('Does the other side show the same code? [y/N] ');
        if (!match) {
          await client.call('accept.confirmSas', { acceptId: result.acceptId, match }).catch(() => undefined);
          io.out('Rejected: nothing was pinned on either side.');
          return EXIT.failed;
        }
        result = await client.call('accept.confirmSas', { acceptId: result.acceptId, match });
      }
      if (values.json)
        printJson(io, {
          status: result.status,
          ...(result.peer ? { peer: result.peer } : {}),
          // Pending only: the accept id to confirm with, and the code when one is required.
          ...(result.status === 'pending' ? { acceptId: result.acceptId } : {}),
          ...(result.status === 'pending' && result.sas ? { sas: result.sas } : {}),
        });
      else if (result.status === 'paired') io.out(`Paired with ${result.peer?.name} (${result.peer?.did})`);
      else if (result.sas) {
        io.out(`Security code: ${result.sas.digits}  ${result.sas.emoji}`);
        io.out(`  compare it with the other side, then: pairlink confirm ${result.acceptId} yes|no`);
      } else {
        io.out(
          `Still pending (accept ${result.acceptId}); it completes in the background when the issuer's agent answers.`,
        );
      }
      return result.status === 'paired' ? EXIT.ok : EXIT.pending;
    });
  },
};
