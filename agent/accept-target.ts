import { PairlinkError } from '../src/errors.js';
import type { AcceptTarget } from '../src/handshake/acceptor.js';
import { inviteExpiryFromMailbox } from '../src/handshake/deadlines.js';
import { parseInviteText } from '../src/invite/invite-text.js';
import type { ShortCode } from '../src/invite/short-code.js';
import { refuseBurnedCode, refuseOwnCode } from './code-attempts.js';
import type { PairingRecord } from './record-kinds.js';
import { type RelayPool, relayKey } from './relay-pool.js';
import type { RelayTransport } from './relay-transport.js';
import type { AcceptRecord, InviteRecord } from './state/agent-state.js';

/** What reading an accept's invite text needs from the agent. */
export interface AcceptTargetDeps {
  readonly relays: RelayPool;
  /** Throws RELAY_REFUSED when the agent's relay-URL policy refuses `relayUrl`. */
  readonly refuseRelay: (relayUrl: string) => void;
  /** The relay (pool key) a record runs on. */
  readonly relayOf: (record: PairingRecord) => string;
  /** The invites in flight, and every accept known (in flight and in the history). */
  readonly invites: () => readonly InviteRecord[];
  readonly accepts: () => readonly AcceptRecord[];
}

/**
 * What an accept of `text` (a link or a code, parseInviteText) aims at, and the relay (pool key)
 * it runs on. A link runs on the relay it names, after the relay policy lets it, the pool has
 * room (RELAY_LIMIT now, before anything is recorded) and the relay can be reached (reachRelay);
 * `relayUrl` may only repeat that relay. A
 * code runs on `relayUrl` when given, else on the home relay, where its nameplate is claimed;
 * one's own code and a code this agent already burned are refused.
 */
export async function resolveAcceptTarget(
  text: string,
  relayUrl: string | undefined,
  now: number,
  deps: AcceptTargetDeps,
): Promise<{ target: AcceptTarget; relay: string }> {
  const parsed = parseInviteText(text, now);
  if (parsed.form === 'code') return claimCode(parsed.code, relayUrl, deps);
  const { invite } = parsed;
  // The policy first: a relay this agent would never contact is refused for that reason.
  deps.refuseRelay(invite.relayUrl);
  const relay = relayKey(invite.relayUrl);
  if (relayUrl !== undefined && relayKey(relayUrl) !== relay)
    throw new PairlinkError(
      'INVALID_PARAMS',
      `this link names its own relay (${relay}); --relay is for codes, which carry none`,
    );
  // RELAY_LIMIT now, before anything is recorded; a relay nobody answers at fails now too.
  await deps.relays.holding(relay, reachRelay);
  return { target: { form: 'url', invite }, relay };
}

/**
 * Asks a relay that is not connected and never answered since it was opened something cheap (its readiness) before an accept is recorded
 * on it: one that cannot be reached fails the accept at once, RELAY_UNREACHABLE naming its origin
 * (the client's message), with nothing saved. Any other answer lets the accept start, and the
 * machine retries a relay that answers and then goes away as before (relay-trouble.ts).
 */
async function reachRelay(relay: RelayTransport): Promise<void> {
  // A relay that answered once since it was opened (the home relay, down for a moment) is retried.
  if (relay.connected || relay.answeredAt !== null || !relay.storeSince) return;
  await relay.storeSince().catch((error: unknown) => {
    if (error instanceof PairlinkError && error.code === 'RELAY_UNREACHABLE') throw error;
  });
}

/** A code's target: its nameplate claimed on its relay, which hands out the issuer's mailbox. */
async function claimCode(
  code: ShortCode,
  relayUrl: string | undefined,
  deps: AcceptTargetDeps,
): Promise<{ target: AcceptTarget; relay: string }> {
  if (relayUrl !== undefined) deps.refuseRelay(relayUrl);
  const relay = relayUrl === undefined ? deps.relays.homeUrl : relayKey(relayUrl);
  // Nameplates are per relay: only this relay's invites and accepts say anything about this one.
  const onRelay = <R extends PairingRecord>(records: readonly R[]) =>
    records.filter((r) => deps.relayOf(r) === relay);
  refuseOwnCode(onRelay(deps.invites()), code.nameplate);
  const claim = await deps.relays.holding(relay, (r) =>
    r.claimNameplate(code.nameplate).catch((error: unknown) => {
      if (error instanceof PairlinkError && error.code === 'INVITE_NOT_FOUND')
        refuseBurnedCode(onRelay(deps.accepts()), code.nameplate, null);
      throw error;
    }),
  );
  refuseBurnedCode(onRelay(deps.accepts()), code.nameplate, claim.mailboxId);
  return {
    target: {
      form: 'code',
      code,
      issuerMailbox: { mailboxId: claim.mailboxId, writeCapability: claim.writeCap },
      expiresAt: inviteExpiryFromMailbox(Math.floor(claim.expiresAt / 1000)),
    },
    relay,
  };
}
