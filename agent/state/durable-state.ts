import { dirname } from 'node:path';
import { asDiskFull } from '../../io/disk-full.js';
import { PairlinkError } from '../../src/errors.js';
import type { AuditAnchor } from '../audit-chain.js';
import type {
  AcceptRecord,
  AgentHistory,
  AgentState,
  InboxRecord,
  InviteRecord,
  PeerRecord,
} from './agent-state.js';
import {
  type AuditSaves,
  applyChange,
  byId,
  type Change,
  changedWhole,
  diff,
  diffPeers,
  finishesRecords,
  inviteFinished,
  isFinished,
  type Keyed,
  NO_AUDIT,
  type Snapshot,
  sameAnchor,
  wipeHistory,
} from './state-changes.js';
import { SealedLog } from './state-log.js';
import { wipeFinishedAccept, wipeFinishedInvite } from './wipe-finished.js';

export {
  type AuditSaves,
  FINISHED_RECORDS_KEPT,
  isFinished,
  pruneFinished,
} from './state-changes.js';

/**
 * How long the files may still hold secrets of a finished record (in the entries, or the
 * snapshot, that saved it in flight) while the agent runs: then a save rewrites them without
 * (a compaction), as do a stop and a start. Not at once: a compaction rewrites the whole state
 * (~30 ms here with a full history, against ~3.5 ms for an append), and records finish on
 * every pairing.
 */
export const FINISHED_SECRETS_ON_DISK_SECONDS = 10;

/**
 * The agent's state in memory and on disk, with group commit. Changes are applied synchronously
 * (JavaScript runs one of them at a time, so each machine step is atomic without a lock);
 * `persist()` resolves once a save that began after the call has completed. Saves run one at a
 * time and each appends everything applied since the last one as a single sealed log entry (one
 * write, one fdatasync, sized by what changed rather than by the whole state), so many steps share
 * one sync and a pairing's pins and machine state always land together or not at all.
 *
 * Finished records leave the state for the history (the last FINISHED_RECORDS_KEPT of each kind)
 * in the same entry, wiped of their secrets (wipe-finished.ts). When the log outgrows the
 * snapshot, the next save compacts: a fresh snapshot and an empty log (state-log.ts); so does the
 * save that `wipeFinishedFromFiles` asks for, and the last one before `close`.
 */
export class DurableState {
  private applied = 0;
  private saved = 0;
  private saving: Promise<void> | null = null;
  private readonly waiters: { generation: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** What runs once everything applied before it is on disk, however many saves fail first. */
  private readonly afterSaves: { generation: number; run: () => void }[] = [];
  /** What the log holds: compared by reference with the state to find what changed. */
  private lastSaved: {
    name: string;
    createdAt: number;
    audit: AuditAnchor | undefined;
    inbox: InboxRecord | undefined;
    /** The state saved last, for its whole fields (WHOLE_FIELDS), compared by reference. */
    whole: AgentState;
    invites: Keyed<InviteRecord>;
    accepts: Keyed<AcceptRecord>;
    peers: readonly PeerRecord[];
  };
  /** A failed append may have left a partial entry: start afresh with a snapshot. */
  private mustCompact: boolean;
  /** The files hold secrets of finished records (appended since the last compaction), seen at this time. */
  private finishedOnDisk: { since: number | null } | null = null;
  /** The audit lines the log carried at load, oldest first (for AuditLog.open to restore a lost tail). */
  carriedAuditLines: readonly string[] = [];
  /** The log carries audit lines (appended since the last compaction). */
  private carriesAudit = false;

  private constructor(
    private readonly stateFile: string,
    private readonly log: SealedLog<Snapshot, Change>,
    public state: AgentState,
    public history: AgentHistory,
    fresh: boolean,
    private readonly auditSaves: AuditSaves,
  ) {
    this.lastSaved = DurableState.keyed(state);
    this.mustCompact = fresh;
  }

  private static keyed(state: AgentState) {
    return {
      name: state.name,
      createdAt: state.createdAt,
      audit: state.audit,
      inbox: state.inbox,
      whole: state,
      invites: byId(state.invites),
      accepts: byId(state.accepts),
      peers: state.peers,
    };
  }

  /**
   * `auditSaves` gives every save the audit lines its anchor names, and syncs the audit file
   * before a compaction: a saved anchor never names an entry that is on no disk.
   */
  static async load(
    stateFile: string,
    key: Uint8Array,
    initial: () => AgentState,
    auditSaves: AuditSaves = NO_AUDIT,
  ): Promise<DurableState> {
    const log = new SealedLog<Snapshot, Change>(stateFile, key);
    const loaded = await log.load();
    const base = loaded.snapshot ?? { state: initial(), history: { invites: [], accepts: [] } };
    const history = wipeHistory(base.history);
    let snapshot: Snapshot = { state: base.state, history };
    for (const change of loaded.changes) snapshot = applyChange(snapshot, change);
    // A fresh state, or files of an older format, start with a snapshot of the current format;
    // so do files that still hold secrets of finished records (an older version's history, or a
    // log that finished records: their secrets are in the entries before).
    const secretsOnDisk = history !== base.history || loaded.changes.some(finishesRecords);
    const state = new DurableState(
      stateFile,
      log,
      snapshot.state,
      snapshot.history,
      loaded.snapshot === null || log.outdated || secretsOnDisk,
      auditSaves,
    );
    state.carriedAuditLines = loaded.changes.flatMap((c) => c.auditLines ?? []);
    state.carriesAudit = state.carriedAuditLines.length > 0;
    return state;
  }

  /** Applies a change now (synchronously); call `persist()` before acting on it. */
  update(change: (state: AgentState) => AgentState): void {
    this.state = change(this.state);
    this.applied++;
  }

  /** True while changes applied are not on disk yet (a save under way, or one that failed). */
  get behind(): boolean {
    return this.saved < this.applied;
  }

  /**
   * Runs `run` once everything applied so far is on disk: after the save under way or, when saves
   * fail (a full disk), after the first later one that succeeds; never if none does.
   */
  whenSaved(run: () => void): void {
    if (this.applied <= this.saved && !this.saving) run();
    else this.afterSaves.push({ generation: this.applied, run });
  }

  /** Resolves when everything applied so far is on disk. */
  persist(): Promise<void> {
    const generation = this.applied;
    if (generation <= this.saved && !this.saving) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ generation, resolve, reject }));
    this.saving ??= this.saveLoop();
    return done;
  }

  /**
   * Rewrites the files without the secrets of finished records once they have held them for
   * FINISHED_SECRETS_ON_DISK_SECONDS (the agent calls this on every clock tick, `now` in seconds).
   */
  wipeFinishedFromFiles(now: number): Promise<void> {
    if (!this.finishedOnDisk) return Promise.resolve();
    this.finishedOnDisk.since ??= now;
    if (now - this.finishedOnDisk.since < FINISHED_SECRETS_ON_DISK_SECONDS) return Promise.resolve();
    // Once per period: a compaction that fails is retried by the next save anyway.
    this.finishedOnDisk.since = now;
    return this.compactSoon();
  }

  /** Makes the next save a compaction, and starts it. */
  private compactSoon(): Promise<void> {
    this.mustCompact = true;
    this.applied++;
    return this.persist();
  }

  /**
   * Closes the log file after the last save, a compaction if the files hold secrets of finished
   * records or audit lines: a stopped agent's audit file holds every entry its state names, and
   * its state no line to write back, so a line cut from the file at rest shows.
   */
  async close(): Promise<void> {
    try {
      await this.persist();
      if (this.finishedOnDisk || this.carriesAudit) await this.compactSoon();
    } finally {
      await this.log.close();
    }
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
          // A full disk is DISK_FULL, for the agent and its callers to say so.
          this.mustCompact = true;
          const failure = asDiskFull(error, `cannot save the agent's state in ${dirname(this.stateFile)}`);
          this.settle(Number.POSITIVE_INFINITY, failure as Error);
          return;
        }
        this.saved = target;
        this.settle(target, null);
        for (let i = 0; i < this.afterSaves.length; ) {
          const after = this.afterSaves[i]!;
          if (after.generation <= target) {
            this.afterSaves.splice(i, 1);
            // Outside the save loop: what it does is no part of the save.
            queueMicrotask(after.run);
          } else i++;
        }
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
    const auditLines = this.auditSaves.takeLines();
    const finishedInvites = this.state.invites.filter(inviteFinished).map(wipeFinishedInvite);
    const finishedAccepts = this.state.accepts.filter(isFinished).map(wipeFinishedAccept);
    const before = { state: this.state, history: this.history };
    // Nothing finished: nothing moves to the history (and 10,000 peers are not copied per save).
    const next =
      finishedInvites.length + finishedAccepts.length === 0
        ? before
        : applyChange(before, {
            name: this.state.name,
            createdAt: this.state.createdAt,
            done: { invites: finishedInvites, accepts: finishedAccepts },
          });
    const keyed = DurableState.keyed(next.state);
    const invites = diff(this.lastSaved.invites, keyed.invites);
    const accepts = diff(this.lastSaved.accepts, keyed.accepts);
    const peers = diffPeers(this.lastSaved.peers, keyed.peers);
    const audit = sameAnchor(next.state.audit, this.lastSaved.audit) ? undefined : next.state.audit;
    const inbox = next.state.inbox === this.lastSaved.inbox ? undefined : next.state.inbox;
    const whole = changedWhole(this.lastSaved.whole, next.state);
    const change: Change = {
      name: next.state.name,
      createdAt: next.state.createdAt,
      ...(audit ? { audit } : {}),
      ...(inbox ? { inbox } : {}),
      ...(whole ? { whole } : {}),
      ...(auditLines.length > 0 ? { auditLines } : {}),
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
      inbox === undefined &&
      whole === undefined &&
      auditLines.length === 0 &&
      invites.put.length + invites.del.length + accepts.put.length + accepts.del.length === 0 &&
      peers.put.length + peers.del.length + finishedInvites.length + finishedAccepts.length === 0;
    if (this.mustCompact || this.log.logBytes > Math.max(1 << 20, 4 * this.log.snapshotBytes)) {
      // The snapshot does not carry audit lines: those the log carried must be in the audit file.
      this.auditSaves.syncBeforeCompact();
      await this.log.compact(next);
      this.mustCompact = false;
      this.finishedOnDisk = null;
      this.carriesAudit = false;
    } else if (!unchanged) {
      await this.log.append(change);
      if (auditLines.length > 0) this.carriesAudit = true;
      // A record that finished here has its secrets in the entries (or the snapshot) that saved
      // it in flight: wipeFinishedFromFiles rewrites them.
      if (finishedInvites.length + finishedAccepts.length > 0) this.finishedOnDisk ??= { since: null };
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
