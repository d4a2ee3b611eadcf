import { PairlinkError } from '../../src/errors.js';
import { isAcceptorFinished } from '../../src/handshake/acceptor.js';
import { isIssuerFinished } from '../../src/handshake/issuer.js';
import type { AuditAnchor } from '../audit-chain.js';
import type { AcceptRecord, AgentHistory, AgentState, InviteRecord, PeerRecord } from './agent-state.js';
import { SealedLog } from './state-log.js';

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
const inviteFinished = (invite: InviteRecord) => isIssuerFinished(invite.issuer);

/** The whole document: what is in flight, and the recent history. */
interface Snapshot {
  readonly state: AgentState;
  readonly history: AgentHistory;
}

/** One save's worth of changes, as appended to the log. */
interface Change {
  readonly name: string;
  readonly createdAt: number;
  /** The audit log's anchor, when it moved. */
  readonly audit?: AuditAnchor;
  readonly put?: { invites?: InviteRecord[]; accepts?: AcceptRecord[]; peers?: PeerRecord[] };
  readonly del?: { invites?: string[]; accepts?: string[]; peers?: string[] };
  /** Records that finished: they leave the state and join the history. */
  readonly done?: { invites?: InviteRecord[]; accepts?: AcceptRecord[] };
}

type Keyed<T> = ReadonlyMap<string, T>;
const byId = <T extends { id: string }>(items: readonly T[]): Map<string, T> =>
  new Map(items.map((i) => [i.id, i]));
const byDid = (peers: readonly PeerRecord[]): Map<string, PeerRecord> =>
  new Map(peers.map((p) => [p.did, p]));

/** Records of `now` that are not (the same object) in `before`, and keys of `before` gone from `now`. */
function diff<T>(before: Keyed<T>, now: Keyed<T>): { put: T[]; del: string[] } {
  const put: T[] = [];
  const del: string[] = [];
  for (const [key, value] of now) if (before.get(key) !== value) put.push(value);
  for (const key of before.keys()) if (!now.has(key)) del.push(key);
  return { put, del };
}

function upsert<T>(
  items: readonly T[],
  put: readonly T[] | undefined,
  del: readonly string[] | undefined,
  key: (t: T) => string,
): T[] {
  const gone = new Set([...(del ?? []), ...(put ?? []).map(key)]);
  return [...items.filter((i) => !gone.has(key(i))), ...(put ?? [])];
}

/** Applies one logged change to a snapshot (load replays the log with this). */
function applyChange(snapshot: Snapshot, change: Change): Snapshot {
  const done = change.done ?? {};
  const doneInvites = (done.invites ?? []).map((i) => i.id);
  const doneAccepts = (done.accepts ?? []).map((a) => a.id);
  const state: AgentState = {
    ...snapshot.state,
    name: change.name,
    createdAt: change.createdAt,
    ...(change.audit ? { audit: change.audit } : {}),
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
  const history = pruneFinished({
    invites: upsert(snapshot.history.invites, done.invites, [], (i) => i.id),
    accepts: upsert(snapshot.history.accepts, done.accepts, [], (a) => a.id),
  });
  return { state, history };
}

/**
 * The agent's state in memory and on disk, with group commit. Changes are applied synchronously
 * (JavaScript runs one of them at a time, so each machine step is atomic without a lock);
 * `persist()` resolves once a save that began after the call has completed. Saves run one at a
 * time and each appends everything applied since the last one as a single sealed log entry (one
 * write, one fdatasync, sized by what changed rather than by the whole state), so many steps share
 * one sync and a pairing's pins and machine state always land together or not at all.
 *
 * Finished records leave the state for the history (the last FINISHED_RECORDS_KEPT of each kind)
 * in the same entry. When the log outgrows the snapshot, the next save compacts: a fresh snapshot
 * and an empty log (state-log.ts).
 */
export class DurableState {
  private applied = 0;
  private saved = 0;
  private saving: Promise<void> | null = null;
  private readonly waiters: { generation: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** What the log holds: compared by reference with the state to find what changed. */
  private lastSaved: {
    name: string;
    createdAt: number;
    audit: AuditAnchor | undefined;
    invites: Keyed<InviteRecord>;
    accepts: Keyed<AcceptRecord>;
    peers: Keyed<PeerRecord>;
  };
  /** A failed append may have left a partial entry: start afresh with a snapshot. */
  private mustCompact: boolean;

  private constructor(
    private readonly log: SealedLog<Snapshot, Change>,
    public state: AgentState,
    public history: AgentHistory,
    fresh: boolean,
    private readonly beforeSave: () => void,
  ) {
    this.lastSaved = DurableState.keyed(state);
    this.mustCompact = fresh;
  }

  private static keyed(state: AgentState) {
    return {
      name: state.name,
      createdAt: state.createdAt,
      audit: state.audit,
      invites: byId(state.invites),
      accepts: byId(state.accepts),
      peers: byDid(state.peers),
    };
  }

  /**
   * `beforeSave` runs at the start of every save, before the state is written: the agent syncs
   * its audit log there, so a saved audit anchor never names an entry that is not on disk.
   */
  static async load(
    stateFile: string,
    key: Uint8Array,
    initial: () => AgentState,
    beforeSave: () => void = () => undefined,
  ): Promise<DurableState> {
    const log = new SealedLog<Snapshot, Change>(stateFile, key);
    const loaded = await log.load();
    let snapshot: Snapshot = loaded.snapshot ?? { state: initial(), history: { invites: [], accepts: [] } };
    for (const change of loaded.changes) snapshot = applyChange(snapshot, change);
    // A fresh state, or files of an older format, start with a snapshot of the current format.
    return new DurableState(
      log,
      snapshot.state,
      snapshot.history,
      loaded.snapshot === null || log.outdated,
      beforeSave,
    );
  }

  /** Applies a change now (synchronously); call `persist()` before acting on it. */
  update(change: (state: AgentState) => AgentState): void {
    this.state = change(this.state);
    this.applied++;
  }

  /** Resolves when everything applied so far is on disk. */
  persist(): Promise<void> {
    const generation = this.applied;
    if (generation <= this.saved && !this.saving) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ generation, resolve, reject }));
    this.saving ??= this.saveLoop();
    return done;
  }

  /** Closes the log file (after the last save). */
  async close(): Promise<void> {
    await this.persist();
    await this.log.close();
  }

  private async saveLoop(): Promise<void> {
    try {
      while (this.saved < this.applied || this.waiters.length > 0) {
        // The log is written synchronously (state-log.ts): first let this turn's effects that may
        // run during the save (a replayable frame, a mailbox to open) reach the wire, and let
        // everything already queued apply its step, so they share this save.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const target = this.applied;
        try {
          await this.saveNow();
        } catch (error) {
          // Fail everyone waiting (their effects must not run) and stop; the next persist() retries.
          this.mustCompact = true;
          this.settle(Number.POSITIVE_INFINITY, error as Error);
          return;
        }
        this.saved = target;
        this.settle(target, null);
      }
    } finally {
      this.saving = null;
    }
  }

  private settle(target: number, error: Error | null): void {
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i]!;
      if (waiter.generation <= target) {
        this.waiters.splice(i, 1);
        if (error) waiter.reject(error);
        else waiter.resolve();
      } else i++;
    }
  }

  private async saveNow(): Promise<void> {
    // Everything here up to the write is synchronous, so it sees one consistent state.
    this.beforeSave();
    const finishedInvites = this.state.invites.filter(inviteFinished);
    const finishedAccepts = this.state.accepts.filter(isFinished);
    const before = { state: this.state, history: this.history };
    const next = applyChange(before, {
      name: this.state.name,
      createdAt: this.state.createdAt,
      done: { invites: finishedInvites, accepts: finishedAccepts },
    });
    const keyed = DurableState.keyed(next.state);
    const invites = diff(this.lastSaved.invites, keyed.invites);
    const accepts = diff(this.lastSaved.accepts, keyed.accepts);
    const peers = diff(this.lastSaved.peers, keyed.peers);
    const audit = next.state.audit !== this.lastSaved.audit ? next.state.audit : undefined;
    const change: Change = {
      name: next.state.name,
      createdAt: next.state.createdAt,
      ...(audit ? { audit } : {}),
      put: { invites: invites.put, accepts: accepts.put, peers: peers.put },
      del: { invites: invites.del, accepts: accepts.del, peers: peers.del },
      done: { invites: finishedInvites, accepts: finishedAccepts },
    };
    this.state = next.state;
    this.history = next.history;
    const unchanged =
      change.name === this.lastSaved.name &&
      change.createdAt === this.lastSaved.createdAt &&
      audit === undefined &&
      invites.put.length + invites.del.length + accepts.put.length + accepts.del.length === 0 &&
      peers.put.length + peers.del.length + finishedInvites.length + finishedAccepts.length === 0;
    if (this.mustCompact || this.log.logBytes > Math.max(1 << 20, 4 * this.log.snapshotBytes)) {
      await this.log.compact(next);
      this.mustCompact = false;
    } else if (!unchanged) {
      await this.log.append(change);
    }
    this.lastSaved = keyed;
  }

  findInvite(id: string): InviteRecord {
    const key = id.toUpperCase();
    const invite =
      this.state.invites.find((i) => i.id === key) ?? this.history.invites.find((i) => i.id === key);
    if (!invite) throw new PairlinkError('UNKNOWN_ID', `no invite with id ${id}`);
    return invite;
  }

  findAccept(id: string): AcceptRecord {
    const key = id.toUpperCase();
    const accept =
      this.state.accepts.find((a) => a.id === key) ?? this.history.accepts.find((a) => a.id === key);
    if (!accept) throw new PairlinkError('UNKNOWN_ID', `no accept with id ${id}`);
    return accept;
  }

  /** Replaces a record wherever it lives (a finished record may still be in the state). */
  replaceInvite(next: InviteRecord): void {
    this.update((s) => ({ ...s, invites: s.invites.map((i) => (i.id === next.id ? next : i)) }));
  }

  replaceAccept(next: AcceptRecord): void {
    this.update((s) => ({ ...s, accepts: s.accepts.map((a) => (a.id === next.id ? next : a)) }));
  }

  /** Every invite known: pending ones first, then finished ones from the history. */
  get allInvites(): readonly InviteRecord[] {
    return [...this.state.invites, ...this.history.invites];
  }

  /** Every accept known, oldest first: finished ones from the history, then those in the state. */
  get allAccepts(): readonly AcceptRecord[] {
    return [...this.history.accepts, ...this.state.accepts];
  }
}
