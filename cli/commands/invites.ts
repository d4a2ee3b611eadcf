import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import { printJson } from '../output.js';

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
          const attempts = !i.failedAttempts
            ? ''
            : i.error === 'INVITE_BURNED'
              ? `  burned after ${i.failedAttempts} failed code attempts`
              : `  ${i.failedAttempts} failed code attempt${i.failedAttempts === 1 ? '' : 's'}`;
          io.out(
            `${i.id}  ${i.status.padEnd(9)} ${i.format.padEnd(4)} ${i.mode.padEnd(6)} uses left ${i.usesLeft}  expires ${i.expiresAt}${attempts}${i.label ? `  ${i.label}` : ''}`,
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
