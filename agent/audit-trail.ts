import type { Logger } from 'pino';
import type { Effect } from '../src/handshake/effects.js';
import type { AuditEntry, AuditIntegrity, InviteCreator, InviteProgress } from '../src/rpc/protocol.js';
import type { AuditAnchor } from './audit-chain.js';
import { AUDIT_ENTRIES_PER_FILE, AuditLog } from './audit-log.js';
import type { SaveFailureLog } from './failed-saves.js';
import type { RepeatedWarnings } from './repeated-warnings.js';
import type { InviteRecord } from './state/agent-state.js';
import type { AuditSaves, DurableState } from './state/durable-state.js';

/** Which part an audit entry gives a record's pairing: its role and id (and an invite's creator). */
export type AuditParty = Pick<AuditEntry, 'role' | 'invite' | 'accept' | 'by'>;

/** The progress statuses that end a pairing (or an invite), and the audit entry each makes. */
const OUTCOME_EVENTS: Partial<Record<InviteProgress['status'], AuditEntry['event']>> = {
  paired: 'paired',
  unconfirmed: 'unconfirmed',
  failed: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
};

/** What the trail needs from the agent: the state its anchor lives in, and where to say things. */
export interface AuditTrailDeps {
  readonly store: DurableState;
  readonly logger: Logger;
  readonly warnings: RepeatedWarnings;
  readonly logFailure: SaveFailureLog;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * The agent's side of the audit log (audit-log.ts keeps the file and its chain): which changes
 * make which entries, and the chain's anchor kept in the agent state. Each entry is appended in
 * the turn that applies the change it records, before that change's save is asked for: the save
 * (which syncs the log first, `sync`) then carries the moved anchor, rather than another save
 * after it (a state append and two fdatasyncs per entry). Once that save is on disk, the log may
 * rotate past it.
 */
export class AuditTrail {
  private constructor(
    private readonly log: AuditLog,
    private readonly deps: AuditTrailDeps,
  ) {}

  /**
   * Opens the log at `path` against the state's anchor (writing back a tail a crash took, from
   * the lines the state carried), says in one line each when its chain breaks (an altered log),
   * a torn last line was cut off or a lost tail written back, and puts its anchor in the state
   * (saved by the caller's next save).
   */
  static async open(path: string, key: Uint8Array, deps: AuditTrailDeps): Promise<AuditTrail> {
    const { log, integrity, tornBytes, restored } = await AuditLog.open(
      path,
      key,
      deps.store.state.audit,
      AUDIT_ENTRIES_PER_FILE,
      deps.store.carriedAuditLines,
    );
    const { logger } = deps;
    if (restored > 0)
      logger.info(
        { entries: restored },
        'the audit log had lost its last entries (a crash before it was synced); wrote them back from the state',
      );
    if (tornBytes > 0)
      logger.warn({ bytes: tornBytes }, 'the audit log ended in a torn line (a write cut short); cut it off');
    if (!integrity.ok)
      logger.warn(
        { brokenAt: integrity.brokenAt, reason: integrity.reason, missing: integrity.missing },
        'the audit log was altered: its hash chain breaks (pairlink log says where)',
      );
    const anchor = log.anchor();
    deps.store.update((s) => ({ ...s, audit: anchor }));
    return new AuditTrail(log, deps);
  }

  /** The chain's base and head, as the state holds them. */
  anchor(): AuditAnchor {
    return this.log.anchor();
  }

  /** The state holding `anchor` is on disk: the log may rotate past it. */
  committed(anchor: AuditAnchor): void {
    this.log.committed(anchor);
  }

  /** The lines appended since the last save, for the next save to carry (AuditLog.takeLines). */
  takeLines(): string[] {
    return this.log.takeLines();
  }

  /**
   * Runs before a compaction, which drops the audit lines the state log carried: the entries its
   * anchor names reach the audit file's disk first. A failure is logged rather than failing the
   * save: pairings must not stop for the history.
   */
  sync(): void {
    try {
      this.log.sync();
    } catch (error) {
      this.deps.logger.error({ err: (error as Error).message }, 'syncing the audit log failed');
    }
  }

  /** An invite was minted, by `by`, for `uses` peers. */
  minted(record: InviteRecord, by: InviteCreator, uses: number, at: string): void {
    this.append({ at, event: 'minted', invite: record.id, by, format: record.format, uses });
  }

  /** An invite could not be made after all (its mailbox refused, its save failed): it failed with `code`. */
  mintFailed(record: InviteRecord, by: InviteCreator, code: AuditEntry['code'], at: string): void {
    this.append({ at, event: 'failed', role: 'issuer', invite: record.id, by, code });
  }

  /** The operator unpaired a peer. */
  unpaired(peer: { did: string; name: string }, at: string): void {
    this.append({ at, event: 'unpaired', peer: { did: peer.did, name: peer.name } });
  }

  /** An identity rotated (PROTOCOL.md §11.6): ours, or a peer's whose rotation was applied. */
  rotated(
    now: { did: string; name: string },
    previousDid: string,
    reason: NonNullable<AuditEntry['rotation']>,
    at: string,
  ): void {
    this.append({
      at,
      event: 'rotated',
      peer: { did: now.did, name: now.name },
      previousDid,
      rotation: reason,
    });
  }

  /** The peer unpaired this agent (its unpair notice was applied). */
  unpairedByPeer(peer: { did: string; name: string }, at: string): void {
    this.append({ at, event: 'unpairedByPeer', peer: { did: peer.did, name: peer.name } });
  }

  /**
   * A notice queued to a peer (`noticeSent`) or heard from one (`noticeReceived`): its kind and
   * what became of it, never its body. A notice from no pinned peer names no peer.
   */
  notice(
    event: 'noticeSent' | 'noticeReceived',
    peer: { did: string; name: string } | null,
    kind: NonNullable<AuditEntry['notice']>,
    verdict: NonNullable<AuditEntry['verdict']>,
    at: string,
  ): void {
    this.append({
      at,
      event,
      ...(peer ? { peer: { did: peer.did, name: peer.name } } : {}),
      notice: kind,
      verdict,
    });
  }

  /**
   * The history's side of a machine step: an entry for each way a pairing ends among its progress
   * effects, naming `party`. Appended as the step is applied, so the step's own save names it:
   * the outcome and its entry reach the disk together, whether or not the effects run after it (a
   * failed save drops them; the record resumes without telling its progress again).
   */
  recordOutcomes(effects: readonly Effect[], party: AuditParty, now: number): void {
    for (const effect of effects) {
      if (effect.type !== 'progress') continue;
      const event = OUTCOME_EVENTS[effect.status];
      if (!event) continue;
      this.append({
        at: iso(now),
        event,
        ...party,
        ...(effect.peer ? { peer: { did: effect.peer.did, name: effect.peer.name } } : {}),
        ...(effect.code ? { code: effect.code } : {}),
      });
    }
  }

  /** On the agent's tick: entries lost to a full disk get their `lost` entry once the log can be written. */
  recordLost(now: number): void {
    if (this.log.lostEntries) this.write((log) => log.recordLost(iso(now)));
  }

  /** The history, oldest first, and whether its chain is whole (`history.list`). */
  list(
    since: string | undefined,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; integrity: AuditIntegrity }> {
    return this.log.list(since, limit);
  }

  /** Syncs and closes the log (the agent's stop). */
  close(): Promise<void> {
    return this.log.close();
  }

  private append(entry: AuditEntry): void {
    this.write((log) => log.append(entry));
  }

  /**
   * Writes to the audit log and saves its new anchor. While it cannot be written (a full disk),
   * one line a minute says so with the count of entries lost so far; once it can, one line says
   * how many were lost, as the `lost` entry written before the next one does in the history.
   */
  private write(write: (log: AuditLog) => void): void {
    const { log, deps } = this;
    const lost = log.lostEntries;
    const head = log.anchor().head;
    try {
      write(log);
    } catch (error) {
      deps.warnings.warn(
        { err: (error as Error).message, lost: log.lostEntries },
        'the audit log could not be written: its entries are lost until it can be (count in "lost")',
      );
      return;
    }
    if (lost > 0 && log.lostEntries === 0)
      deps.logger.warn(
        { lost },
        'the audit log is written again: a "lost" entry in it counts the entries it missed',
      );
    const anchor = log.anchor();
    if (anchor.head === head) return;
    deps.store.update((s) => ({ ...s, audit: anchor }));
    deps.logFailure(deps.store.persist().then(() => log.committed(anchor)));
  }
}

/**
 * How the state's saves carry the trail's log (DurableState's AuditSaves): each takes the lines
 * since the last, and a compaction syncs the file first. `trail` is read at each save: the state
 * is loaded before the log is opened.
 */
export function auditSaves(trail: () => AuditTrail | null): AuditSaves {
  return {
    takeLines: () => trail()?.takeLines() ?? [],
    syncBeforeCompact: () => trail()?.sync(),
  };
}
