import type { InviteProgress, InviteSummary } from '../../src/rpc/protocol.js';

/** What an invite message says about its state. */
export type InviteState = 'open' | 'accepted' | 'paired' | 'expired' | 'cancelled' | 'failed';

const STATE_TEXT: Record<InviteState, string> = {
  open: 'Waiting for someone to accept.',
  accepted: 'Accepted: pairing in progress…',
  paired: 'Paired.',
  expired: 'Expired: nobody used it in time.',
  cancelled: 'Cancelled.',
  failed: 'Failed.',
};

/** The invite message state a progress notification leads to (null: no change worth showing). */
export function stateAfter(progress: InviteProgress): InviteState | null {
  switch (progress.status) {
    case 'accepted':
      return 'accepted';
    case 'paired':
      return 'paired';
    case 'expired':
      return 'expired';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
      return 'failed';
    default:
      return null;
  }
}

export interface InviteView {
  readonly invite: Pick<InviteSummary, 'id' | 'url' | 'code' | 'expiresAt' | 'usesLeft'> & { label?: string };
  readonly minter: string;
  readonly state: InviteState;
  readonly peerName?: string | undefined;
}

/**
 * Lines with light markup (`**bold**`, `` `code` ``); the adapter formats times and says how to
 * accept in its chat (`acceptHint`, e.g. "/accept invite:<the link or code>").
 */
export function inviteLines(
  view: InviteView,
  formatTime: (iso: string) => string,
  acceptHint: string,
): string[] {
  const { invite } = view;
  const lines = [
    `**pairlink invite** \`${invite.id}\` from ${view.minter}${invite.label ? ` — ${invite.label}` : ''}`,
  ];
  if (view.state === 'open' || view.state === 'accepted') {
    if (invite.code) lines.push(`Code: \`${invite.code}\``);
    if (invite.url) lines.push(`Link: ${invite.url}`);
    lines.push(
      `Expires ${formatTime(invite.expiresAt)} · ${invite.usesLeft} use${invite.usesLeft === 1 ? '' : 's'} left`,
    );
    lines.push(`Accept with: \`${acceptHint}\` (or \`pairlink accept\`)`);
  }
  lines.push(
    view.state === 'paired' && view.peerName ? `Paired with **${view.peerName}**.` : STATE_TEXT[view.state],
  );
  return lines;
}

/** A short, human error line for a chat reply. */
export function errorLine(error: unknown): string {
  const e = error as { code?: string; message?: string };
  if (e.code === 'AGENT_UNAVAILABLE')
    return 'The pairlink agent is unavailable right now; try again in a moment.';
  return `That did not work: ${e.message ?? 'unknown error'}${e.code ? ` (${e.code})` : ''}`;
}
