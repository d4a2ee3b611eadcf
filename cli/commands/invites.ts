import type { ErrorCode } from '../../src/errors.js';
import type { InviteSummary } from '../../src/rpc/protocol.js';
import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson } from '../output.js';

/** Why a failed invite failed, as its issuer reads it (the error texts speak to the acceptor). */
const ISSUER_REASONS: Partial<Record<ErrorCode, string>> = {
  INVITE_NOT_FOUND: 'the relay lost its nameplate (it restarted without its store?); make a new one',
  RELAY_UNRELIABLE: 'the relay kept losing its mailbox; use another relay',
};

/** The failed code attempts, or why the invite failed: empty when neither applies. */
export function attemptsText(i: InviteSummary): string {
  if (i.error === 'INVITE_BURNED') return `  burned after ${i.failedAttempts ?? 3} failed code attempts`;
  const attempts = i.failedAttempts
    ? `  ${i.failedAttempts} failed code attempt${i.failedAttempts === 1 ? '' : 's'}`
    : '';
  if (i.status !== 'failed' || !i.error) return attempts;
  return `${attempts}  failed: ${ISSUER_REASONS[i.error] ?? i.error}`;
}

export const invitesCommand: Command = {
  summary: 'List pending invites (--all: finished ones too).',
  usage: 'pairlink invites [--all] [--json]',
  options: { all: { type: 'boolean' } },
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const invites = await client.call('invite.list', values.all ? { all: true } : {});
      if (values.json) printJson(io, invites);
      else if (invites.length === 0) io.out('No pending invites.');
      else {
        for (const i of invites) {
          io.out(
            `${i.id}  ${i.status.padEnd(9)} ${i.format.padEnd(4)} ${i.mode.padEnd(6)} uses left ${i.usesLeft}  expires ${i.expiresAt}${attemptsText(i)}${i.label ? `  ${i.label}` : ''}`,
          );
          for (const s of i.sessions.filter(
            (session) =>
              (session.status === 'awaitingSas' || session.status === 'awaitingConfirm') && session.sas,
          )) {
            io.out(
              `    ${s.peer?.name ?? 'someone'} is waiting: security code ${s.sas!.digits}  ${s.sas!.emoji}  → pairlink confirm ${i.id} yes|no --session ${s.sessionId}`,
            );
          }
        }
      }
      return 0;
    }),
};
