import { describeError } from '../../src/error-text.js';
import { relayBesideCode } from '../../src/invite/code-relay.js';
import type { InviteAcceptResult, InviteProgress, InviteSummary, PeerInfo } from '../../src/rpc/protocol.js';

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
  /** `relayUrl`: the relay it was minted on (absent from messages remembered before it was kept). */
  readonly invite: Pick<InviteSummary, 'id' | 'url' | 'code' | 'expiresAt' | 'usesLeft'> & {
    label?: string;
    relayUrl?: string;
  };
  readonly minter: string;
  readonly state: InviteState;
  readonly peerName?: string | undefined;
}

/**
 * How one chat's accept command is typed: with the relay option when `relay` is given (e.g.
 * "/accept invite:<the code> relay:<url>"), else for a link or a code on the default relay.
 */
export type AcceptForm = (relay: string | undefined) => string;

/**
 * Lines with light markup (`**bold**`, `` `code` ``); the adapter formats times and says how to
 * accept in its chat (`acceptForm`). A code minted on a relay other than the built-in default
 * shows that relay beside it, in both accept commands: a code carries no relay of its own.
 */
export function inviteLines(
  view: InviteView,
  formatTime: (iso: string) => string,
  acceptForm: AcceptForm,
): string[] {
  const { invite } = view;
  const lines = [
    `**pairlink invite** \`${invite.id}\` from ${view.minter}${invite.label ? ` — ${invite.label}` : ''}`,
  ];
  if (view.state === 'open' || view.state === 'accepted') {
    const relay = relayBesideCode(invite);
    if (invite.code) lines.push(`Code: \`${invite.code}\``);
    if (relay) lines.push(`Relay: \`${relay}\` (a code carries none: give this one when accepting)`);
    if (invite.url) lines.push(`Link: ${invite.url}`);
    lines.push(
      `Expires ${formatTime(invite.expiresAt)} · ${invite.usesLeft} use${invite.usesLeft === 1 ? '' : 's'} left`,
    );
    lines.push(
      `Accept with: \`${acceptForm(relay)}\` (or run \`pairlink accept${relay ? ` --relay ${relay}` : ''}\` and paste it)`,
    );
  }
  lines.push(
    view.state === 'paired' && view.peerName ? `Paired with **${view.peerName}**.` : STATE_TEXT[view.state],
  );
  return lines;
}

/** The answer to an accept: the peer, or that it completes in the background. */
export function acceptLine(result: InviteAcceptResult): string {
  return result.status === 'paired' && result.peer
    ? `Paired with **${result.peer.name}** (\`${result.peer.did}\`).`
    : `Still pending (accept \`${result.acceptId}\`): it completes in the background when the issuer’s agent answers.`;
}

/** Pending invites, at most 20, one a line; the adapter formats the expiry. */
export function inviteListLines(
  invites: readonly InviteSummary[],
  formatTime: (iso: string) => string,
): string[] {
  if (invites.length === 0) return ['No pending invites.'];
  return invites
    .slice(0, 20)
    .map(
      (i) =>
        `\`${i.id}\` ${i.format} · ${i.usesLeft} left · expires ${formatTime(i.expiresAt)}${i.label ? ` · ${i.label}` : ''}`,
    );
}

/** Paired peers, at most 20, one a line. */
export function peerListLines(peers: readonly PeerInfo[]): string[] {
  if (peers.length === 0) return ['No peers yet.'];
  const lines: string[] = [];
  let length = 0;
  for (const p of peers.slice(0, MAX_PEER_LINES)) {
    const line = [`**${p.name}** \`${p.did}\``, ...peerStates(p)].join(' · ');
    // One chat message (Discord's limit is 2,000 characters), with room for the last line.
    if (length + line.length + 1 > PEER_LINES_BUDGET) break;
    lines.push(line);
    length += line.length + 1;
  }
  const more = peers.length - lines.length;
  return more > 0 ? [...lines, `…and ${more} more (\`pairlink peers\` lists them all)`] : lines;
}

/** At most this many peers in one reply, and at most this many characters of their lines. */
const MAX_PEER_LINES = 20;
const PEER_LINES_BUDGET = 1_900;

/** What a chat user should know of a pin beyond its name: the same states `pairlink peers` shows. */
function peerStates(p: PeerInfo): string[] {
  return [
    ...(p.relation === 'device' ? ['another device of this identity'] : []),
    ...(p.confirmed ? [] : ['unconfirmed: it never acknowledged the pairing']),
    ...(p.relation !== 'device' && !p.inbox ? ['no inbox: an unpair reaches only this side'] : []),
    p.lastContact
      ? `last contact ${p.lastContact.slice(0, 16).replace('T', ' ')} UTC`
      : 'no contact since pairing',
  ];
}

/** A short, human error line for a chat reply: the shared sentence of src/error-text.ts. */
export function errorLine(error: unknown): string {
  return describeError(error).text;
}
