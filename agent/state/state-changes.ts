import { isAcceptorFinished } from '../../src/handshake/acceptor.js';
import { isIssuerFinished } from '../../src/handshake/issuer.js';
import type { AuditAnchor } from '../audit-chain.js';
import type {
  AcceptRecord,
  AgentHistory,
  AgentState,
  InboxRecord,
  InviteRecord,
  PeerRecord,
} from './agent-state.js';
import { wipeFinishedAccept, wipeFinishedInvite } from './wipe-finished.js';

/**
 * What one save appends to the state log and how load replays it (DurableState is the store
 * around it): a change of records, the audit anchor and lines, the inbox; what moves to the
 * history; the diff between what the log holds and the state in memory.
 */

/** Finished invites and accepts kept in the history, most recent last. */
export const FINISHED_RECORDS_KEPT = 100;

/** Keeps the most recent finished records of each kind. */
export function pruneFinished(history: AgentHistory): AgentHistory {
  return {
    invites: history.invites.slice(-FINISHED_RECORDS_KEPT),
    accepts: history.accepts.slice(-FINISHED_RECORDS_KEPT),
  };
}

/** True once an accept can change no more. */
export function isFinished(accept: AcceptRecord): boolean {
  return isAcceptorFinished(accept.acceptor);
}

/** True once an invite can change no more (ended, and no pin waiting for its ack). */
export const inviteFinished = (invite: InviteRecord) => isIssuerFinished(invite.issuer);

/** The whole document: what is in flight, and the recent history. */
export interface Snapshot {
  readonly state: AgentState;
  readonly history: AgentHistory;
}

/** One save's worth of changes, as appended to the log. */
/**
 * The state's fields that a save writes whole whenever they changed (compared by reference), as
 * opposed to the records, which it writes one by one. A field added to AgentState that is neither
 * a record list nor in this list is saved only by a compaction: a crash would lose it.
 */
export const WHOLE_FIELDS = [
  'outbox',
  'formerCounters',
  'retiredKeys',
  'rotations',
  'revokingDevice',
] as const;
export type WholeField = (typeof WHOLE_FIELDS)[number];

/** Every field of AgentState is saved by each save: this fails to compile when one is not. */
type SavedField =
  | 'version'
  | 'name'
  | 'createdAt'
  | 'audit'
  | 'inbox'
  | 'peers'
  | 'invites'
  | 'accepts'
  | WholeField;
export const EVERY_FIELD_SAVED: Exclude<keyof AgentState, SavedField> extends never ? true : never = true;

/** The whole fields of `state` that differ (by reference) from `before`'s; undefined when none. */
export function changedWhole(before: AgentState, state: AgentState): Change['whole'] {
  const changed: Record<string, unknown> = {};
  for (const field of WHOLE_FIELDS) if (state[field] !== before[field]) changed[field] = state[field] ?? null;
  return Object.keys(changed).length > 0 ? (changed as Change['whole']) : undefined;
}

/** The whole fields `whole` sets: each given one replaced, a null one taken away. */
function withWhole(whole: Change['whole']): Partial<AgentState> {
  if (!whole) return {};
  const fields: Record<string, unknown> = {};
  for (const field of WHOLE_FIELDS) {
    const value = whole[field];
    if (value !== undefined) fields[field] = value ?? undefined;
  }
  return fields as Partial<AgentState>;
}

export interface Change {
  readonly name: string;
  readonly createdAt: number;
  /** The audit log's anchor, when it moved. */
  readonly audit?: AuditAnchor;
  /** The agent's inbox, when it was made or changed (it is never taken away). */
  readonly inbox?: InboxRecord;
  /**
   * The fields saved whole (WHOLE_FIELDS) that changed, each as it is now; null: it was taken
   * away. Each is small and bounded (the outbox: 16 notices per peer; the lists: a few thousand).
   */
  readonly whole?: { readonly [K in WholeField]?: AgentState[K] | null };
  /**
   * The audit lines written since the last save, as in the audit file: that file is not synced
   * before each save, so the entries the anchor names are on disk here until a compaction, which
   * syncs it first (AuditSaves). Load hands them back to the audit log to restore a lost tail.
   */
  readonly auditLines?: string[];
  readonly put?: { invites?: InviteRecord[]; accepts?: AcceptRecord[]; peers?: PeerRecord[] };
  readonly del?: { invites?: string[]; accepts?: string[]; peers?: string[] };
  /** Records that finished: they leave the state and join the history. */
  readonly done?: { invites?: InviteRecord[]; accepts?: AcceptRecord[] };
}

export type Keyed<T> = ReadonlyMap<string, T>;
export const byId = <T extends { id: string }>(items: readonly T[]): Map<string, T> =>
  new Map(items.map((i) => [i.id, i]));
export const byDid = (peers: readonly PeerRecord[]): Map<string, PeerRecord> =>
  new Map(peers.map((p) => [p.did, p]));
/** By value: an agent that starts and finds its audit log where it left it has nothing to save. */
export const sameAnchor = (x: AuditAnchor | undefined, y: AuditAnchor | undefined) =>
  x === y ||
  (x !== undefined &&
    y !== undefined &&
    x.base.seq === y.base.seq &&
    x.base.digest === y.base.digest &&
    x.head.seq === y.head.seq &&
    x.head.digest === y.head.digest);

/**
 * How the saves carry the audit log (agent/audit-log.ts): each save takes the lines written since
 * the one before; a compaction, which drops the lines the log carried, first makes the audit file
 * durable. So a save is one fdatasync whether or not it names new audit entries.
 */
export interface AuditSaves {
  takeLines(): string[];
  syncBeforeCompact(): void;
}

export const NO_AUDIT: AuditSaves = { takeLines: () => [], syncBeforeCompact: () => undefined };

/** Records of `now` that are not (the same object) in `before`, and keys of `before` gone from `now`. */
export function diff<T>(before: Keyed<T>, now: Keyed<T>): { put: T[]; del: string[] } {
  const put: T[] = [];
  const del: string[] = [];
  for (const [key, value] of now) if (before.get(key) !== value) put.push(value);
  for (const key of before.keys()) if (!now.has(key)) del.push(key);
  return { put, del };
}

/**
 * `diff` of two peer lists, in one pass when the list kept its order (a save that changed some
 * peers in place, as a notice does): with 10,000 peers, no map of them all per save.
 */
export function diffPeers(
  before: readonly PeerRecord[],
  now: readonly PeerRecord[],
): { put: PeerRecord[]; del: string[] } {
  if (before === now) return { put: [], del: [] };
  if (before.length === now.length && now.every((p, i) => p.did === before[i]!.did))
    return { put: now.filter((p, i) => p !== before[i]), del: [] };
  return diff(byDid(before), byDid(now));
}

export function upsert<T>(
  items: readonly T[],
  put: readonly T[] | undefined,
  del: readonly string[] | undefined,
  key: (t: T) => string,
): T[] {
  const gone = new Set([...(del ?? []), ...(put ?? []).map(key)]);
  return [...items.filter((i) => !gone.has(key(i))), ...(put ?? [])];
}

/** Applies one logged change to a snapshot (load replays the log with this). */
export function applyChange(snapshot: Snapshot, change: Change): Snapshot {
  const done = change.done ?? {};
  const doneInvites = (done.invites ?? []).map((i) => i.id);
  const doneAccepts = (done.accepts ?? []).map((a) => a.id);
  const state: AgentState = {
    ...snapshot.state,
    name: change.name,
    createdAt: change.createdAt,
    ...(change.audit ? { audit: change.audit } : {}),
    ...(change.inbox ? { inbox: change.inbox } : {}),
    ...withWhole(change.whole),
    peers: upsert(snapshot.state.peers, change.put?.peers, change.del?.peers, (p) => p.did),
    invites: upsert(
      snapshot.state.invites,
      change.put?.invites,
      [...(change.del?.invites ?? []), ...doneInvites],
      (i) => i.id,
    ),
    accepts: upsert(
      snapshot.state.accepts,
      change.put?.accepts,
      [...(change.del?.accepts ?? []), ...doneAccepts],
      (a) => a.id,
    ),
  };
  // Wiped as they join the history (a no-op for what this version logs; an older one kept secrets).
  const history = pruneFinished({
    invites: upsert(snapshot.history.invites, done.invites?.map(wipeFinishedInvite), [], (i) => i.id),
    accepts: upsert(snapshot.history.accepts, done.accepts?.map(wipeFinishedAccept), [], (a) => a.id),
  });
  return { state, history };
}

/** The history with every record wiped (the same object when nothing needed it). */
export function wipeHistory(history: AgentHistory): AgentHistory {
  const invites = history.invites.map(wipeFinishedInvite);
  const accepts = history.accepts.map(wipeFinishedAccept);
  const same = <T>(a: readonly T[], b: readonly T[]) => a.every((item, i) => item === b[i]);
  return same(invites, history.invites) && same(accepts, history.accepts) ? history : { invites, accepts };
}

/** True when a logged change finished records: their earlier secrets are in the files before it. */
export const finishesRecords = (change: Change) =>
  (change.done?.invites?.length ?? 0) + (change.done?.accepts?.length ?? 0) > 0;
