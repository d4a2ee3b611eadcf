import type { PairlinkClient } from '../../client/index.js';
import { MAX_INVITE_TEXT_LENGTH } from '../../src/invite/invite-url.js';
import type { InviteAcceptResult, InviteProgress } from '../../src/rpc/protocol.js';
import { parseDuration, withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { type Io, printJson, UsageError } from '../output.js';
import { INVITE_ENV, promptSecret, readPipedSecret } from '../secret-input.js';
import { type CaughtSignals, type StopSignal, withStopSignals } from '../signals.js';

/** Said once in a terminal when the invite came as the argument (docs/SECURITY.md §Local users). */
const ARGUMENT_SEEN =
  'Note: an invite given as an argument is visible to other local users for a moment, and stays in your shell history; `pairlink accept` with no argument asks for it unseen.';

async function askYesNo(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Where the invite comes from. The argument form is visible to other local users in the process
 * list until bin/pairlink.ts scrubs it (the first thing it does); stdin, the no-echo prompt and
 * PAIRLINK_INVITE are never visible to them (docs/SECURITY.md §Local users).
 */
async function readInvite(positional: string | undefined, io: Io): Promise<string> {
  if (positional !== undefined && positional !== '-') return positional;
  const fromEnv = process.env[INVITE_ENV];
  if (positional === undefined && fromEnv) {
    delete process.env[INVITE_ENV]; // nothing this process starts inherits it
    return fromEnv;
  }
  const invite =
    process.stdin.isTTY && io.isTty
      ? await promptSecret('Paste the invite link or code (not shown): ')
      : await readPipedSecret();
  if (invite.length === 0)
    throw new UsageError(`no invite given: pass it on stdin, in ${INVITE_ENV}, or as the argument`);
  return invite;
}

/** After a hand-off: the SAS question in a terminal, then the outcome. */
async function finishAccept(
  client: PairlinkClient,
  first: InviteAcceptResult,
  values: Record<string, unknown>,
  io: Io,
): Promise<number> {
  let result = first;
  if (
    result.status === 'pending' &&
    result.sas &&
    result.confirmSas !== false &&
    !values.json &&
    io.isTty &&
    process.stdin.isTTY
  ) {
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
      ...(result.status === 'pending' && result.sas
        ? { sas: result.sas, confirmSas: result.confirmSas !== false }
        : {}),
    });
  else if (result.status === 'paired') io.out(`Paired with ${result.peer?.name} (${result.peer?.did})`);
  else if (result.sas && result.confirmSas !== false) {
    io.out(`Security code: ${result.sas.digits}  ${result.sas.emoji}`);
    io.out(`  compare it with the other side, then: pairlink confirm ${result.acceptId} yes|no`);
  } else if (result.sas) {
    io.out(`Security code: ${result.sas.digits}  ${result.sas.emoji}`);
    io.out(
      `  still pending (accept ${result.acceptId}): the issuer's operator compares this code; it completes in the background once they confirm it.`,
    );
  } else {
    io.out(
      `Still pending (accept ${result.acceptId}); it completes in the background when the issuer's agent answers.`,
    );
  }
  return result.status === 'paired' ? EXIT.ok : EXIT.pending;
}

/** Stopped by a signal while waiting: the accept goes on in the agent; says so, and how to follow it. */
function stoppedWaiting(
  acceptId: string,
  signal: StopSignal,
  values: Record<string, unknown>,
  io: Io,
): number {
  if (values.json) printJson(io, { status: 'pending', acceptId });
  else
    io.err(
      `Stopped waiting: accept ${acceptId} goes on in the agent and may still pair; follow it with \`pairlink wait ${acceptId}\`.`,
    );
  return EXIT[signal];
}

/**
 * Waits up to `waitSeconds` for the accept's outcome, then finishes it; a SIGINT or SIGTERM caught
 * before (also while the accept was being handed over) stops the wait instead. The signals are
 * released before the security-code question, which a terminal's Ctrl-C ends as before.
 */
async function waitForAccept(
  client: PairlinkClient,
  acceptId: string,
  waitSeconds: number,
  signals: CaughtSignals,
  values: Record<string, unknown>,
  io: Io,
): Promise<number> {
  const early = signals.received();
  // Promise.race handles a later refusal of the abandoned call: nothing is left unhandled.
  const outcome =
    early ?? (await Promise.race([client.call('accept.get', { acceptId, waitSeconds }), signals.first]));
  signals.release();
  if (typeof outcome === 'string') return stoppedWaiting(acceptId, outcome, values, io);
  return finishAccept(client, outcome, values, io);
}

/** How many notifications are kept while the accept's id is not known yet (other accepts' too). */
const EARLY_EVENTS = 256;

/**
 * Shows this accept's progress on stderr (the agent notifies every subscriber of every accept, so
 * others' are skipped). `subscribed` settles once the agent confirmed; `follow` names the accept
 * and shows what arrived for it before its id was known.
 */
function watchProgress(
  client: PairlinkClient,
  io: Io,
  json: boolean,
): { subscribed: Promise<void>; follow(id: string): void } {
  let acceptId: string | null = null;
  const early: InviteProgress[] = [];
  const show = (progress: InviteProgress) => {
    // With --json stdout stays one document (the outcome); the code the issuer's operator must
    // hear goes to stderr as one JSON line the moment it is known, not at the end of --wait.
    if (json) {
      if (progress.status === 'sasShown' && progress.sas)
        io.err(JSON.stringify({ status: 'sasShown', acceptId: progress.id, sas: progress.sas }));
    } else if (progress.status === 'sas') io.err('  security code ready: compare it with the other side');
    else if (progress.status === 'sasShown' && progress.sas)
      io.err(
        `Security code: ${progress.sas.digits}  ${progress.sas.emoji}\n  read it to the issuer's operator: they compare it and confirm; waiting for them`,
      );
  };
  client.onEvent(({ method, params }) => {
    if (method !== 'invite.progress' || params.role !== 'acceptor') return;
    if (acceptId === null) {
      if (early.length < EARLY_EVENTS) early.push(params);
    } else if (params.id === acceptId) show(params);
  });
  return {
    subscribed: client.subscribe(),
    follow(id) {
      acceptId = id;
      for (const progress of early.splice(0)) if (progress.id === id) show(progress);
    },
  };
}

/** Hands a new accept to the agent, then waits for it (waitForAccept). */
async function acceptNew(
  client: PairlinkClient,
  invite: string,
  waitSeconds: number,
  signals: CaughtSignals,
  values: Record<string, unknown>,
  io: Io,
): Promise<number> {
  const progress = watchProgress(client, io, values.json === true);
  // The agent answers at once (waitSeconds 0) when the invite passed every local check (its
  // form, signature, expiry, relay) and the accept is recorded; only then is "Pairing…" true.
  // Both requests are awaited together, so neither's refusal is ever left unhandled.
  const [started] = await Promise.all([
    client.call('invite.accept', {
      invite,
      waitSeconds: 0,
      ...(values.relay !== undefined ? { relay: values.relay as string } : {}),
      ...(values['require-sas'] ? { requireSas: true } : {}),
    }),
    progress?.subscribed,
  ]);
  progress?.follow(started.acceptId);
  if (started.status === 'paired' || waitSeconds === 0) {
    signals.release();
    return finishAccept(client, started, values, io);
  }
  if (!values.json && !signals.received()) io.err('Pairing… (waiting for the issuer’s agent)');
  return waitForAccept(client, started.acceptId, waitSeconds, signals, values, io);
}

export const acceptCommand: Command = {
  summary: [
    'Accept an invite link or code: pair with its issuer.',
    '',
    'The invite: with no argument (or `-`) it is read from stdin; in a terminal you are asked for',
    `it and it is not shown. ${INVITE_ENV} is used when set and there is no argument. These forms`,
    'keep it out of the process list; an argument is scrubbed from it as soon as pairlink starts.',
    '',
    'Options:',
    '  --wait <duration>   how long to wait for the issuer (default 30s); after that the pairing',
    '                      goes on in the background and this exits 4 with status "pending"',
    '                      (Ctrl-C while waiting: it goes on too, and this exits 130 naming it)',
    '  --require-sas       stop at the security code (also when the issuer asks for one): in a',
    '                      terminal you are asked whether it matches; otherwise this exits 4 and',
    '                      you answer with `pairlink confirm <accept-id> yes|no`',
    '  --relay <url>       for a code: the relay its issuer minted it on (a code carries no relay;',
    "                      default this agent's own). A link names its relay itself.",
    '  --follow <id>       follow an accept already handed to the agent (as the URL handler does)',
    '  --url-handler       what the pairlink:// handler runs: takes the link from PAIRLINK_INVITE,',
    '                      hands it to the agent at once, then follows it in a terminal',
  ].join('\n'),
  usage: [
    'pairlink accept [-] [--relay <url>] [--wait 30s] [--require-sas] [--json]  (the invite: stdin, the prompt or PAIRLINK_INVITE)',
    "       pairlink accept '<invite>' [options]                       (briefly visible to other users in ps)",
    '       pairlink accept --follow <accept-id> [--wait 30s] [--json]',
    '       pairlink accept --url-handler                              (what the pairlink:// handler runs)',
  ].join('\n'),
  options: {
    wait: { type: 'string' },
    relay: { type: 'string' },
    'require-sas': { type: 'boolean' },
    follow: { type: 'string' },
    'url-handler': { type: 'boolean' },
  },
  allowPositionals: true,
  run: async ({ values, positionals, io }) => {
    if (positionals.length > 1)
      throw new UsageError('accept takes one invite (quote it), or none to read stdin');
    let waitSeconds: number;
    try {
      waitSeconds = values.wait === undefined ? 30 : parseDuration(values.wait as string, '--wait');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (values['url-handler']) return (await import('./accept-handler.js')).handleLink(io);
    const follow = values.follow as string | undefined;
    if (follow !== undefined) {
      if (positionals.length > 0) throw new UsageError('--follow takes an accept id and no invite');
      if (values.relay !== undefined) throw new UsageError('--relay is for a new accept, not with --follow');
      return withAgent(async (client) => {
        const progress = watchProgress(client, io, values.json === true);
        progress.follow(follow);
        await progress.subscribed;
        return withStopSignals((signals) => waitForAccept(client, follow, waitSeconds, signals, values, io));
      });
    }
    const invite = await readInvite(positionals[0], io);
    if (invite.length > MAX_INVITE_TEXT_LENGTH) throw new UsageError('the invite is too long');
    if (positionals[0] !== undefined && positionals[0] !== '-' && io.isTty) io.err(ARGUMENT_SEEN);
    // Signals are caught from the hand-over on, so a Ctrl-C at any point after it names the accept.
    return withAgent((client) =>
      withStopSignals((signals) => acceptNew(client, invite, waitSeconds, signals, values, io)),
    );
  },
};
