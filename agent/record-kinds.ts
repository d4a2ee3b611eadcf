import { crockfordSymbolsFromBits, writeCrockfordSymbols } from '../src/encoding/crockford.js';
import { toHex } from '../src/encoding/hex.js';
import {
  type AcceptorEvent,
  type AcceptorState,
  acceptorWakeAt,
  stepAcceptor,
} from '../src/handshake/acceptor.js';
import { inviteMailboxTtl } from '../src/handshake/deadlines.js';
import type { Effect, HostEvent, OwnedMailbox, Step } from '../src/handshake/effects.js';
import {
  type IssuerEvent,
  type IssuerState,
  type IssuerStepContext,
  issuerWakeAt,
  stepIssuer,
} from '../src/handshake/issuer.js';
import type { AuditParty } from './audit-trail.js';
import { relayKey } from './relay-pool.js';
import type { AcceptRecord, AgentState, InviteRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';
import { wipeFinishedAcceptor, wipeFinishedInvite, wipeFinishedIssuer } from './state/wipe-finished.js';

/** A record the agent runs a handshake machine for: an invite it issued, or an accept. */
export type PairingRecord = InviteRecord | AcceptRecord;

/** A record's short local id, from the first 5 bytes of its mailbox or session id: 8 Crockford symbols. */
export function shortId(bytes: Uint8Array): string {
  return writeCrockfordSymbols(crockfordSymbolsFromBits(bytes, 8));
}

/** Events every kind of machine takes: the host's, frames from the relay, and the clock. */
export type EngineEvent =
  | HostEvent
  | { readonly type: 'frameReceived'; readonly frame: Uint8Array }
  | { readonly type: 'clockTicked' };

/**
 * What the host does when the relay lost a record's mailbox: tell the machine, which re-opens it
 * from sequence 1 (`machine`); re-create it with the capabilities the record kept (`host`); or
 * tell the machine that nothing more will arrive (`never`: a code's nameplate cannot come back).
 */
export type LostMailboxRepair =
  | { readonly by: 'machine' }
  | { readonly by: 'host'; readonly mailbox: OwnedMailbox; readonly expiresAt: number }
  | { readonly by: 'never' };

/**
 * One row of the step engine's table (agent/step-engine.ts): everything the engine asks of one
 * kind of record `R`, whose machine has the state `M` and takes the events `E` (EngineEvent among
 * them: the engine feeds every machine the host's events, frames and clock ticks). The engine
 * never asks which kind it holds, so a new kind of record is a new row here (and its machine in
 * src/), not a new branch in the engine.
 */
export interface RecordKind<R extends PairingRecord, M, E> {
  /** The kind's name: the owner key's prefix (`invite:<id>`) and EffectOwner.kind. */
  readonly name: 'invite' | 'accept';
  /** Whether `record` is of this kind. */
  holds(record: PairingRecord): record is R;
  /** The records of this kind in flight (finished ones are in the history). */
  inFlight(state: AgentState): readonly R[];
  /** The record with this id, in flight or in the history (UNKNOWN_ID otherwise). */
  find(store: DurableState, id: string): R;
  /** Puts a stepped record in the place of the one with its id. */
  replace(store: DurableState, next: R): void;
  /** The record's machine state. */
  machine(record: R): M;
  /** One step of its machine (src/handshake/), pure. */
  step(machine: M, event: E, context: IssuerStepContext): Step<M>;
  /** What a finished machine no longer needs, erased (the same object when there is nothing). */
  wipe(machine: M): M;
  /** The record as a step left it: its machine, what the effects tell it (the SAS), its seq. */
  stepped(current: R, machine: M, effects: readonly Effect[], afterSeq: number): R;
  /** When the machine next has something due (seconds; Infinity when nothing is). */
  wakeAt(machine: M): number;
  /** The mailbox the record reads, with its read capability. */
  mailbox(record: R): { readonly mailboxId: Uint8Array; readonly readCapability: Uint8Array };
  /** The relay a record from before the pool (no relayUrl) ran on, when not the home relay. */
  formerRelay(record: R): string | undefined;
  /** How a mailbox of the record's that the relay lost comes back. */
  lostMailbox(record: R): LostMailboxRepair;
  /**
   * Whether the record `id` (in flight or in the history) has given up: the effect runner then
   * drops resends queued behind it. False when not known.
   */
  failed(store: DurableState, id: string): boolean;
  /** Who the record's audit entries name. */
  auditParty(record: R): AuditParty;
}

/** Invites this agent issued: the issuer machine (one per invite, all its sessions). */
export const INVITES: RecordKind<InviteRecord, IssuerState, IssuerEvent> = {
  name: 'invite',
  holds: (record): record is InviteRecord => 'issuer' in record,
  inFlight: (state) => state.invites,
  find: (store, id) => store.findInvite(id),
  replace: (store, next) => store.replaceInvite(next),
  machine: (record) => record.issuer,
  step: stepIssuer,
  wipe: wipeFinishedIssuer,
  stepped(current, issuer, effects, afterSeq) {
    let sas = current.sas;
    for (const effect of effects)
      if (effect.type === 'sasReady') sas = { ...sas, [toHex(effect.sessionId)]: effect.sas };
    return wipeFinishedInvite({ ...current, afterSeq, issuer, sas });
  },
  wakeAt: issuerWakeAt,
  mailbox: (record) => ({ mailboxId: record.issuer.mailboxId, readCapability: record.readCapability }),
  formerRelay: () => undefined,
  // A link's mailbox comes back with the write capability the record kept; a code's cannot.
  lostMailbox: (record) =>
    record.writeCapability
      ? {
          by: 'host',
          mailbox: {
            mailboxId: record.issuer.mailboxId,
            writeCapability: record.writeCapability,
            readCapability: record.readCapability,
          },
          expiresAt: record.issuer.expiresAt + inviteMailboxTtl(0),
        }
      : { by: 'never' },
  failed: () => false,
  auditParty: (record) => ({
    role: 'issuer',
    invite: record.id,
    ...(record.creator ? { by: record.creator } : {}),
  }),
};

/** Accepts of another agent's invite: the acceptor machine. */
export const ACCEPTS: RecordKind<AcceptRecord, AcceptorState, AcceptorEvent> = {
  name: 'accept',
  holds: (record): record is AcceptRecord => 'acceptor' in record,
  inFlight: (state) => state.accepts,
  find: (store, id) => store.findAccept(id),
  replace: (store, next) => store.replaceAccept(next),
  machine: (record) => record.acceptor,
  step: stepAcceptor,
  wipe: wipeFinishedAcceptor,
  stepped(current, acceptor, effects, afterSeq) {
    const sasEffect = effects.find((e): e is Extract<Effect, { type: 'sasReady' }> => e.type === 'sasReady');
    return { ...current, afterSeq, acceptor, ...(sasEffect ? { sas: sasEffect.sas } : {}) };
  },
  wakeAt: acceptorWakeAt,
  mailbox: (record) => record.acceptor.replyBox,
  // A link's accept ran on the link's relay; a code's on the home relay.
  formerRelay: (record) =>
    record.acceptor.target.form === 'url' ? relayKey(record.acceptor.target.invite.relayUrl) : undefined,
  lostMailbox: () => ({ by: 'machine' }),
  // A failed accept leaves the state for the history at its save.
  failed: (store, id) =>
    (store.state.accepts.find((a) => a.id === id) ?? store.history.accepts.find((a) => a.id === id))?.acceptor
      .phase === 'failed',
  auditParty: (record) => ({ role: 'acceptor', accept: record.id }),
};

/** A row as the engine holds it, whichever kind it is. */
export type AnyRecordKind = RecordKind<PairingRecord, unknown, EngineEvent>;

/** The table, by name (an owner key's prefix, EffectOwner.kind), in the order the engine visits it. */
export const RECORD_KINDS: Readonly<Record<AnyRecordKind['name'], AnyRecordKind>> = {
  invite: INVITES,
  accept: ACCEPTS,
};
