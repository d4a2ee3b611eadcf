import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PairlinkError } from '../../src/errors.js';
import { ensurePrivateDir } from '../secure-files.js';
import type { AcceptRecord, AgentHistory, AgentState, InviteRecord } from './agent-state.js';
import { StateFile } from './state-file.js';

/** One finished record, as one sealed file in the history directory. */
type HistoryEntry =
  | { readonly kind: 'invite'; readonly record: InviteRecord }
  | { readonly kind: 'accept'; readonly record: AcceptRecord };

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
  return accept.acceptor.phase === 'paired' || accept.acceptor.phase === 'failed';
}

/**
 * The agent's state in memory and on disk, with group commit. Changes are applied synchronously
 * (JavaScript runs one of them at a time, so each machine step is atomic without a lock);
 * `persist()` resolves once a save that began after the call has completed. Saves run one at a
 * time and each writes everything applied so far, so many steps share one fsync.
 *
 * Finished records move to the history before a save: one small sealed file each in a history
 * directory (the oldest unlinked past FINISHED_RECORDS_KEPT), so finishing a pairing never
 * rewrites the whole history, and the state sealed on every save holds only what is in flight.
 * The history file is written first: a crash in between leaves a record in both places, and the
 * state's copy wins on load.
 */
export class DurableState {
  private applied = 0;
  private saved = 0;
  private saving: Promise<void> | null = null;
  private readonly waiters: { generation: number; resolve: () => void; reject: (e: Error) => void }[] = [];

  /** History file names per kind, oldest first (names start with a zero-padded time). */
  private readonly historyFiles: { invite: string[]; accept: string[] } = { invite: [], accept: [] };
  private historySequence = 0;

  private constructor(
    private readonly file: StateFile<AgentState>,
    private readonly historyDir: string,
    private readonly key: Uint8Array,
    public state: AgentState,
    public history: AgentHistory,
  ) {}

  static async load(
    stateFile: string,
    historyDir: string,
    key: Uint8Array,
    initial: () => AgentState,
  ): Promise<DurableState> {
    const file = new StateFile<AgentState>(stateFile, key);
    const state = (await file.load()) ?? initial();
    await ensurePrivateDir(historyDir);
    const names = (await readdir(historyDir)).filter((n) => n.endsWith('.json')).sort();
    const pending = new Set([...state.invites.map((i) => i.id), ...state.accepts.map((a) => a.id)]);
    const invites: InviteRecord[] = [];
    const accepts: AcceptRecord[] = [];
    const durable = new DurableState(file, historyDir, key, state, { invites, accepts });
    for (const name of names) {
      const entry = await new StateFile<HistoryEntry>(join(historyDir, name), key).load();
      if (!entry || pending.has(entry.record.id)) continue;
      if (entry.kind === 'invite') invites.push(entry.record);
      else accepts.push(entry.record);
      durable.historyFiles[entry.kind].push(name);
    }
    durable.history = pruneFinished({ invites, accepts });
    return durable;
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

  private async saveLoop(): Promise<void> {
    try {
      while (this.saved < this.applied || this.waiters.length > 0) {
        const target = this.applied;
        try {
          await this.saveNow();
        } catch (error) {
          // Fail everyone waiting (their effects must not run) and stop; the next persist() retries.
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
    const finishedInvites = this.state.invites.filter((i) => i.issuer.status !== 'pending');
    const finishedAccepts = this.state.accepts.filter(isFinished);
    if (finishedInvites.length > 0 || finishedAccepts.length > 0) {
      for (const record of finishedInvites) await this.appendHistory({ kind: 'invite', record });
      for (const record of finishedAccepts) await this.appendHistory({ kind: 'accept', record });
      const movedInvites = new Set(finishedInvites.map((i) => i.id));
      const movedAccepts = new Set(finishedAccepts.map((a) => a.id));
      this.history = pruneFinished({
        invites: [...this.history.invites.filter((i) => !movedInvites.has(i.id)), ...finishedInvites],
        accepts: [...this.history.accepts.filter((a) => !movedAccepts.has(a.id)), ...finishedAccepts],
      });
      // Records that changed again while the history was written stay until the next save.
      this.state = {
        ...this.state,
        invites: this.state.invites.filter((i) => !(movedInvites.has(i.id) && i.issuer.status !== 'pending')),
        accepts: this.state.accepts.filter((a) => !(movedAccepts.has(a.id) && isFinished(a))),
      };
    }
    await this.file.save(this.state);
  }

  /** Writes one finished record as its own sealed file and unlinks the oldest past the limit. */
  private async appendHistory(entry: HistoryEntry): Promise<void> {
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.historySequence++).padStart(6, '0')}-${entry.kind}-${entry.record.id}.json`;
    await new StateFile<HistoryEntry>(join(this.historyDir, name), this.key).save(entry);
    const files = this.historyFiles[entry.kind];
    files.push(name);
    while (files.length > FINISHED_RECORDS_KEPT) {
      await unlink(join(this.historyDir, files.shift()!)).catch(() => undefined);
    }
  }

  findInvite(id: string): InviteRecord {
    const key = id.toUpperCase();
    const invite =
      this.state.invites.find((i) => i.id === key) ?? this.history.invites.find((i) => i.id === key);
    if (!invite) throw new PairlinkError('INVITE_NOT_FOUND', `no invite with id ${id}`);
    return invite;
  }

  findAccept(id: string): AcceptRecord {
    const key = id.toUpperCase();
    const accept =
      this.state.accepts.find((a) => a.id === key) ?? this.history.accepts.find((a) => a.id === key);
    if (!accept) throw new PairlinkError('INVITE_NOT_FOUND', `no accept with id ${id}`);
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
}
