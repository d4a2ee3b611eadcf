import type { PairlinkClient } from '../../client/index.js';
import type { ErrorCode } from '../../src/errors.js';
import { parseDuration, withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson, UsageError } from '../output.js';

type Until = 'paired' | 'finished';

/** Codes that say nothing about how the accept ended: a wrong id, or the agent out of reach. */
const NOT_AN_END: ReadonlySet<string> = new Set<ErrorCode>([
  'UNKNOWN_ID',
  'INVALID_PARAMS',
  'AGENT_UNAVAILABLE',
  'AGENT_NOT_FOUND',
  'INTERNAL',
]);

/** The state of an invite or an accept right now: done (and how), or still waiting. */
async function look(
  client: PairlinkClient,
  id: string,
  until: Until,
): Promise<{ done: boolean; status: string; peer?: string }> {
  try {
    const invite = await client.call('invite.get', { id });
    const paired = invite.sessions.find((s) => s.status === 'completed' && s.peer);
    if (paired && until === 'paired') return { done: true, status: 'paired', peer: paired.peer!.name };
    // Pinned but not yet acknowledged: both-or-neither is still being settled (PROTOCOL.md §6.2).
    if (invite.sessions.some((s) => s.status === 'awaitingAck')) return { done: false, status: 'pending' };
    if (invite.status !== 'pending') {
      const unconfirmed = invite.sessions.find((s) => s.status === 'unconfirmed' && s.peer);
      if (paired) return { done: true, status: 'paired', peer: paired.peer!.name };
      if (unconfirmed) return { done: true, status: 'unconfirmed', peer: unconfirmed.peer!.name };
      return { done: true, status: invite.status };
    }
    return { done: false, status: 'pending' };
  } catch (error) {
    if ((error as { code?: string }).code !== 'UNKNOWN_ID') throw error;
  }
  // Not an invite: an accept.
  const accept = await client.call('accept.get', { acceptId: id, waitSeconds: 0 });
  return accept.status === 'paired'
    ? { done: true, status: 'paired', ...(accept.peer ? { peer: accept.peer.name } : {}) }
    : { done: false, status: 'pending' };
}

export const waitCommand: Command = {
  summary: [
    'Wait until an invite (issuer side) or an accept (acceptor side) is paired, for shell scripts',
    'that mint, hand the invite on, and wait. Exit 0 when paired, 1 when it ended otherwise',
    '(expired, cancelled, failed), 4 when --timeout passed first.',
    '',
    'Options:',
    '  --until paired|finished  paired (default): the first pairing; finished: the invite ended',
    '  --timeout <duration>     how long to wait (default 2m)',
  ].join('\n'),
  usage: 'pairlink wait <invite-or-accept-id> [--until paired|finished] [--timeout 2m] [--json]',
  options: { until: { type: 'string' }, timeout: { type: 'string' } },
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1) throw new UsageError('wait takes one invite or accept id');
    const until = (values.until as string | undefined) ?? 'paired';
    if (until !== 'paired' && until !== 'finished') throw new UsageError('--until is paired or finished');
    let seconds: number;
    try {
      seconds = parseDuration((values.timeout as string | undefined) ?? '2m', '--timeout');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const id = positionals[0]!;
    return withAgent(async (client) => {
      const deadline = Date.now() + seconds * 1000;
      let wake: (() => void) | null = null;
      client.onEvent(({ method, params }) => {
        if (method === 'invite.progress' && params.id === id) wake?.();
      });
      await client.subscribe();
      for (;;) {
        let state: Awaited<ReturnType<typeof look>>;
        try {
          state = await look(client, id, until as Until);
        } catch (error) {
          // An accept that failed is an end, not a crash; an id the agent does not know (or a
          // call that failed for another reason) is an error, rendered as every command's is.
          const code = (error as { code?: string }).code;
          if (code === undefined || NOT_AN_END.has(code)) throw error;
          if (values.json) printJson(io, { id, status: 'failed', error: code });
          else io.out(`${id}: failed (${code})`);
          return EXIT.failed;
        }
        if (state.done || Date.now() >= deadline) {
          const status = state.done ? state.status : 'pending';
          if (values.json) printJson(io, { id, status, ...(state.peer ? { peer: state.peer } : {}) });
          else io.out(`${id}: ${status}${state.peer ? ` with ${state.peer}` : ''}`);
          return status === 'paired' ? EXIT.ok : state.done ? EXIT.failed : EXIT.pending;
        }
        // Woken by this id's progress, else look again every 2 s (nothing is missed between).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(2000, Math.max(0, deadline - Date.now())));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    });
  },
};
