import { PairlinkError } from '../../src/errors.js';
import type { SessionSummary } from '../../src/rpc/protocol.js';
import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson, UsageError } from '../output.js';

export const confirmCommand: Command = {
  summary: [
    'Confirm (yes) or reject (no) the security code of a pairing, after comparing it with the',
    'other side. <id> is an accept id (from `pairlink accept`) or an invite id (from',
    '`pairlink invites`); for an invite with several sessions waiting, add --session.',
  ].join('\n'),
  usage: 'pairlink confirm <id> yes|no [--session <session-id>] [--json]',
  options: { session: { type: 'string' } },
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    const [id, answer] = positionals;
    if (positionals.length !== 2 || (answer !== 'yes' && answer !== 'no'))
      throw new UsageError('confirm takes an id and yes or no');
    const match = answer === 'yes';
    return withAgent(async (client) => {
      const invites = await client.call('invite.list', {});
      const invite = invites.find((i) => i.id === id!.toUpperCase());
      if (!invite) {
        if (!match) {
          // The agent answers a rejection with the accept's failure, SAS_REJECTED: that is success here.
          await client.call('accept.confirmSas', { acceptId: id!, match }).catch((error: PairlinkError) => {
            if (error.code !== 'SAS_REJECTED') throw error;
          });
          if (values.json) printJson(io, { status: 'rejected' });
          else io.out('Rejected: nothing was pinned on either side.');
          return EXIT.ok;
        }
        const result = await client.call('accept.confirmSas', { acceptId: id!, match });
        if (values.json)
          printJson(io, { status: result.status, ...(result.peer ? { peer: result.peer } : {}) });
        else if (result.status === 'paired') io.out(`Paired with ${result.peer?.name} (${result.peer?.did})`);
        else io.out('Confirmed; waiting for the other side.');
        return result.status === 'paired' ? EXIT.ok : EXIT.pending;
      }
      const waiting = invite.sessions.filter(
        (s) => (s.status === 'awaitingSas' || s.status === 'awaitingConfirm') && s.sas !== undefined,
      );
      const session = values.session
        ? waiting.find((s) => s.sessionId === values.session)
        : waiting.length === 1
          ? waiting[0]
          : undefined;
      if (!session) {
        throw new UsageError(
          waiting.length === 0
            ? `invite ${invite.id} has no session waiting for a security code`
            : `invite ${invite.id} has ${waiting.length} sessions waiting: add --session (${waiting.map((s) => s.sessionId.slice(0, 16)).join(', ')}…)`,
        );
      }
      const updated = await client.call('invite.confirmSas', {
        id: invite.id,
        sessionId: session.sessionId,
        match,
      });
      const now = updated.sessions.find((s) => s.sessionId === session.sessionId);
      if (values.json) printJson(io, { id: updated.id, sessionId: session.sessionId, status: now?.status });
      else io.out(match ? confirmedLine(now, updated.id) : 'Rejected; nothing was pinned.');
      return EXIT.ok;
    });
  },
};

/**
 * What confirming a code did, in words: the session's state names (awaitingAck, …) are for
 * scripts, which get them with --json. A session that failed meanwhile is an error like any other.
 */
function confirmedLine(session: SessionSummary | undefined, inviteId: string): string {
  const name = session?.peer?.name ?? 'the other side';
  switch (session?.status) {
    case 'completed':
      return `Confirmed: ${name} is paired.`;
    case 'awaitingAck':
      return `Confirmed: ${name} is pinned here; its agent is finishing the pairing (pairlink wait ${inviteId}).`;
    case 'unconfirmed':
      return `Confirmed: ${name} is pinned here, but its agent never acknowledged, so it may not hold the pin.`;
    case 'failed':
      throw new PairlinkError(
        session.error ?? 'PROTOCOL_ERROR',
        'the pairing failed before it was confirmed',
      );
    default:
      return 'Confirmed.';
  }
}
