import type { ErrorCode, PairlinkError } from '../src/errors.js';
import { isTransientRelayFailure } from './relay-transport.js';
import type { RepeatedWarnings } from './repeated-warnings.js';

/**
 * How long an accept's relay has to answer once, as a relay does, before the accept stops
 * retrying it: one that cannot be reached, takes connections and says nothing, or answers
 * garbage for the accept's first 15 s fails it with that failure's code, rather than leaving it
 * pending for the invite's whole life (24 h for a link). 15 s leaves room for one more attempt
 * after the first HTTP deadline (10 s), and ends before `pairlink accept` stops waiting (30 s).
 */
export const FIRST_ANSWER_SECONDS = 15;

/** What an agent knows when an accept's relay effect failed. */
export interface UnansweredRelay {
  readonly code: ErrorCode;
  /** When the accept was recorded, and when this agent started (Unix ms, whole seconds both). */
  readonly acceptStartedMs: number;
  readonly agentStartedMs: number;
  /** When its relay last answered as a relay does (Unix ms); null: never since it was opened; undefined: not known. */
  readonly answeredAtMs: number | null | undefined;
  readonly nowMs: number;
}

/**
 * Whether an accept gives up on its relay: a failure worth retrying (unreachable, garbage, busy)
 * of an accept this agent started, whose relay has not answered once since, now that its first
 * FIRST_ANSWER_SECONDS are over. An accept resumed after a restart keeps retrying: it may have
 * had answers before it, which this agent no longer knows.
 */
export function givesUpOnRelay(failure: UnansweredRelay): boolean {
  return (
    isTransientRelayFailure(failure.code) &&
    failure.acceptStartedMs >= failure.agentStartedMs &&
    failure.answeredAtMs !== undefined &&
    (failure.answeredAtMs === null || failure.answeredAtMs < failure.acceptStartedMs) &&
    failure.nowMs - failure.acceptStartedMs >= FIRST_ANSWER_SECONDS * 1000
  );
}

const TROUBLE: Partial<Record<ErrorCode, string>> = {
  RELAY_UNTRUSTED: 'its TLS certificate is not trusted here',
  RELAY_PROTOCOL: 'it answers as no pairlink relay does',
  RELAY_UNREACHABLE: 'it cannot be reached',
  RELAY_BUSY: 'it answers with errors (overloaded, or down behind its proxy)',
};

/**
 * One warning line per relay and kind of failure per interval (RepeatedWarnings): which relay
 * (its origin: a relay URL carries no secret), what kind of failure, and the reason in the error.
 */
export function warnRelayTrouble(warnings: RepeatedWarnings, relayUrl: string, error: PairlinkError): void {
  const origin = new URL(relayUrl).origin;
  warnings.warn(
    { relay: origin, code: error.code, reason: error.message },
    `relay ${origin}: ${TROUBLE[error.code] ?? 'it failed'}`,
  );
}

/** One info line when a relay connects or disconnects: the home relay by that name, any other by its origin. */
export function reportConnection(
  warnings: RepeatedWarnings,
  relay: string,
  home: boolean,
  connected: boolean,
): void {
  warnings.info(
    home ? { connected } : { connected, relay: new URL(relay).origin },
    `${home ? 'relay' : 'invite relay'} ${connected ? 'connected' : 'disconnected'}`,
  );
}
