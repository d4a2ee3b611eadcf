import type { Logger } from 'pino';
import { type ErrorCode, PairlinkError } from '../src/errors.js';
import type { Effect, HostEvent, RelayEffect } from '../src/handshake/effects.js';
import type { IssuerStepContext } from '../src/handshake/issuer.js';
import type { InviteProgress } from '../src/rpc/protocol.js';
import type { AuditParty } from './audit-trail.js';
import { type EffectOwner, EffectRunner } from './effect-runner.js';
import type { SaveFailureLog } from './failed-saves.js';
import { LostMailboxes, type LostMailboxRetry } from './lost-mailboxes.js';
import { applyPins, withPins } from './pins.js';
import { type AnyRecordKind, type PairingRecord, RECORD_KINDS, type RecordKind } from './record-kinds.js';
import type { RelayPool } from './relay-pool.js';
import { givesUpOnRelay } from './relay-trouble.js';
import type { RepeatedWarnings } from './repeated-warnings.js';
import type { DurableState } from './state/durable-state.js';

/** What the engine needs from the agent that runs it. */
export interface StepEngineDeps {
  readonly store: DurableState;
  readonly relays: RelayPool;
  readonly logger: Logger;
  readonly warnings: RepeatedWarnings;
  readonly now: () => number;
  /** When the agent started: a relay whose store began after it has restarted since. */
  readonly startedAt: Date;
  readonly lostMailboxRetry: LostMailboxRetry;
  /** A record's machine's context: the identity, its card, the clock, randomness, our inbox. */
  readonly context: (record: PairingRecord) => IssuerStepContext;
  /** A step changed the capabilities to our inbox that peers hold, and is saved: the relay is to add or revoke writers. */
  readonly handedInbox: () => void;
  /** The agent's own did: a pin of itself is never recorded. */
  readonly did: () => string;
  /** Device mode: an accept's machine hands this agent the issuer's identity (keystore, card). */
  readonly importIdentity: (bundle: Extract<Effect, { type: 'importIdentity' }>['bundle']) => Promise<void>;
  /** Reports progress (invite.progress). */
  readonly emit: (progress: Omit<InviteProgress, 'at'>) => void;
  /** The history's side of a step: its outcomes, appended in the turn that applies it. */
  readonly recordOutcomes: (effects: readonly Effect[], party: AuditParty) => void;
  readonly logFailure: SaveFailureLog;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** An owner key: which record a queued effect, an unsaved step or a follower belongs to. */
const ownerKey = (kind: AnyRecordKind['name'], id: string) => `${kind}:${id}`;
const KINDS = Object.values(RECORD_KINDS);

/**
 * The step engine: every record's machine (one row of record-kinds.ts per kind) fed its events,
 * each step applied at once to the in-memory state, saved (group commit), and its effects run
 * after that save. It routes relay frames and lost mailboxes to the record that reads the
 * mailbox, feeds failed effects back, wakes machines on the clock, and resumes the records whose
 * steps could not be saved once a save succeeds.
 */
export class StepEngine {
  /** Which record reads each mailbox (base64url id), and on which relay, so a frame finds its machine at once. */
  private readonly readers = new Map<string, { kind: AnyRecordKind['name']; id: string; relay: string }>();
  /** Records (owner keys) whose step could not be saved: their effects were dropped, so they resume once a save works. */
  private readonly unsaved = new Set<string>();
  /** Followers by owner key: each is handed every record its steps leave. */
  private readonly followers = new Map<string, Set<(record: PairingRecord) => void>>();
  private readonly effects: EffectRunner;
  private readonly lost: LostMailboxes;
  /** stop() was called: no new effects, re-opens or ticks. */
  private stopping = false;

  constructor(private readonly deps: StepEngineDeps) {
    this.effects = new EffectRunner({
      relays: deps.relays,
      now: deps.now,
      logger: deps.logger,
      emit: deps.emit,
      failed: (owner, effect, code) => this.effectFailed(owner, effect, code),
      delivered: (owner, frame) => this.stepOwner(owner, { type: 'frameDelivered', frame }),
      hasFailed: (owner) => RECORD_KINDS[owner.kind].failed(deps.store, owner.id),
    });
    this.lost = new LostMailboxes(deps.lostMailboxRetry, deps.logger, (mailbox) => {
      if (!this.stopping) this.reopenLost(mailbox);
    });
  }

  /** At start: every record in flight reads its mailbox again, and is told `resumed` (what was in flight goes out again). */
  resumeAll(): void {
    const state = this.deps.store.state;
    for (const kind of KINDS) for (const record of kind.inFlight(state)) this.listen(record);
    for (const kind of KINDS)
      for (const record of kind.inFlight(state))
        this.deps.logFailure(this.step(kind, record, { type: 'resumed' }));
  }

  /**
   * Watches a record's mailbox from where its machine left off, on its relay. A relay the pool
   * cannot open (RELAY_LIMIT, after a restart with a lower limit) fails that record alone.
   */
  listen(record: PairingRecord): void {
    const owner = this.ownerOf(record);
    this.readers.set(b64(owner.mailboxId), { kind: owner.kind, id: owner.id, relay: owner.relay });
    try {
      this.deps.relays.get(owner.relay).watch(owner.mailboxId, owner.readCapability, record.afterSeq);
    } catch (error) {
      if (!(error instanceof PairlinkError)) throw error;
      this.deps.logFailure(this.stepOwner(owner, { type: 'relayFailed', code: error.code }));
    }
  }

  /**
   * A new record whose machine opens its own mailbox (an accept's reply box): its frames are
   * routed to it from now on, and its first effects queued behind `saved`, its first save.
   */
  adopt(record: PairingRecord, effects: readonly Effect[], saved: Promise<void>): void {
    const owner = this.ownerOf(record);
    this.readers.set(b64(owner.mailboxId), { kind: owner.kind, id: owner.id, relay: owner.relay });
    this.schedule(effects, owner, saved);
  }

  /** A new record that could not be saved, forgotten: its mailbox, which the relay may have made, is deleted. */
  discard(record: PairingRecord): void {
    const owner = this.ownerOf(record);
    this.forgetReader(b64(owner.mailboxId));
    this.effects.schedule([{ type: 'closeMailbox', mailboxId: owner.mailboxId }], owner);
  }

  /** Hands `follow` every record the steps of `kind`'s record `id` leave, until the returned function is called. */
  follow<R extends PairingRecord>(
    kind: RecordKind<R, unknown, never>,
    id: string,
    follow: (record: R) => void,
  ) {
    const key = ownerKey(kind.name, id);
    const followers = this.followers.get(key) ?? new Set();
    // Handed only records of `kind` (the key names it).
    const each = follow as (record: PairingRecord) => void;
    followers.add(each);
    this.followers.set(key, followers);
    return () => {
      followers.delete(each);
      if (followers.size === 0) this.followers.delete(key);
    };
  }

  /** The relay (pool key) a record's mailboxes live on; records from before the pool: as they ran. */
  relayOf(record: PairingRecord): string {
    if (record.relayUrl) return record.relayUrl;
    return this.kindOf(record).formerRelay(record) ?? this.deps.relays.homeUrl;
  }

  private kindOf(record: PairingRecord): AnyRecordKind {
    const kind = KINDS.find((k) => k.holds(record));
    if (!kind) throw new Error('a record of no kind in the table');
    return kind;
  }

  private ownerOf(record: PairingRecord): EffectOwner {
    const kind = this.kindOf(record);
    const { mailboxId, readCapability } = kind.mailbox(record);
    return { kind: kind.name, id: record.id, mailboxId, readCapability, relay: this.relayOf(record) };
  }

  /**
   * One step of a record's machine: applied now, saved (with whatever else is pending), then its
   * effects run. Resolves with the record as the step left it. `restart` takes the given
   * record's afterSeq as it is (a re-created mailbox starts again at sequence 1). `read`: the
   * event is a frame read from the relay, whose step, when it has no effects (a peer's inbox frame
   * kept for the pin), needs no save of its own: it rides the next one, and a crash before that
   * reads the frame again from the saved afterSeq. It resolves at once then.
   */
  async step<R extends PairingRecord, M, E>(
    kind: RecordKind<R, M, E>,
    given: R,
    event: E,
    restart = false,
    read = false,
  ): Promise<R> {
    const { store } = this.deps;
    const current = kind.find(store, given.id);
    const before = kind.machine(current);
    const { state: stepped, effects, replayable } = kind.step(before, event, this.deps.context(current));
    const machine = kind.wipe(stepped);
    if (machine === before && given.afterSeq === current.afterSeq && effects.length === 0) return current;
    const afterSeq = restart ? given.afterSeq : Math.max(current.afterSeq, given.afterSeq);
    const next = kind.stepped(current, machine, effects, afterSeq);
    kind.replace(store, next);
    for (const follow of this.followers.get(ownerKey(kind.name, next.id)) ?? []) follow(next);
    const state = store.state;
    const peers = applyPins(state.peers, effects, this.deps.did(), this.deps.now(), state.formerCounters);
    if (peers !== store.state.peers) store.update((s) => withPins(s, peers));
    const imported = effects.find(
      (e): e is Extract<Effect, { type: 'importIdentity' }> => e.type === 'importIdentity',
    );
    if (imported) await this.deps.importIdentity(imported.bundle);
    this.deps.recordOutcomes(effects, kind.auditParty(next));
    if (read && effects.length === 0) return next;
    const owner = this.ownerOf(current);
    await this.saveThenRun(ownerKey(kind.name, next.id), effects, owner, replayable && !imported);
    // A writer to add now; a capability a pairing again (confirmed) or a withdrawn pin leaves to
    // revoke waits for the inbox's tick, batched with the others owed (agent-inbox.ts).
    if (effects.some((e) => e.type === 'pin' && e.handedWriteCapability)) this.deps.handedInbox();
    return next;
  }

  /** Feeds a host event to whichever record owns the effects (or the mailbox) that caused it. */
  private async stepOwner(owner: Pick<EffectOwner, 'kind' | 'id'>, event: HostEvent): Promise<void> {
    const kind = RECORD_KINDS[owner.kind];
    const record = kind.inFlight(this.deps.store.state).find((r) => r.id === owner.id);
    if (record) await this.step(kind, record, event);
  }

  /**
   * Saves, then runs the step's effects. If the save fails, the effects are dropped (they must not
   * act on state that is not on disk) and the record is resumed once a later save succeeds. A
   * replayable step (Step.replayable: its frames come out the same if it is re-run after a crash,
   * and it pins nothing) runs them while the save syncs.
   */
  private async saveThenRun(
    key: string,
    effects: readonly Effect[],
    owner: EffectOwner,
    replayable = false,
  ): Promise<void> {
    const pins = effects.some((e) => e.type === 'pin' || e.type === 'confirmPin' || e.type === 'unpin');
    const saved = this.deps.store.persist();
    // Replayable: everything now. Otherwise a mailbox may open now, the rest after the save.
    this.schedule(effects, owner, replayable === true && !pins ? undefined : saved);
    try {
      await saved;
    } catch (error) {
      this.unsaved.add(key);
      throw error;
    }
  }

  /** Queues effects behind the owner's earlier ones; they run now that their state is saved. */
  private schedule(effects: readonly Effect[], owner: EffectOwner, saved?: Promise<void>): void {
    if (effects.some((e) => e.type === 'closeMailbox')) this.forgetReader(b64(owner.mailboxId));
    // Stopping: the state is saved, and a restart resumes whatever did not go out.
    if (this.stopping) return;
    this.effects.schedule(effects, owner, saved);
  }

  private forgetReader(mailbox: string): void {
    this.readers.delete(mailbox);
    this.lost.forget(mailbox);
  }

  /** A frame from a relay, for the record that reads `mailbox` there (only its own relay speaks for it). */
  onRelayMessage(relay: string, mailbox: string, seq: number, frame: Uint8Array): void {
    const reader = this.readers.get(mailbox);
    if (!reader || reader.relay !== relay) return;
    const kind = RECORD_KINDS[reader.kind];
    const record = kind.inFlight(this.deps.store.state).find((r) => r.id === reader.id);
    if (record && seq > record.afterSeq)
      this.deps.logFailure(
        this.step(kind, { ...record, afterSeq: seq }, { type: 'frameReceived', frame }, false, true),
      );
  }

  /**
   * The relay no longer has one of our mailboxes (a relay that lost its state, or an expiry). A
   * record that cannot get it back learns at once that nothing more will arrive; the others
   * re-open it after a backoff, and give up past a bound (lost-mailboxes.ts).
   */
  onMailboxGone(relay: string, mailbox: string): void {
    const reader = this.readers.get(mailbox);
    if (!reader || reader.relay !== relay || this.stopping || this.lost.waiting(mailbox)) return;
    const kind = RECORD_KINDS[reader.kind];
    const record = kind.inFlight(this.deps.store.state).find((r) => r.id === reader.id);
    // One that cannot come back (a code's nameplate) just ends: no loop to bound.
    if (record && kind.lostMailbox(record).by === 'never') {
      this.reopenLost(mailbox);
      return;
    }
    if (this.lost.reopenLater(mailbox, relay, { [reader.kind]: reader.id }) === 'gaveUp')
      this.deps.logFailure(this.stepOwner(reader, { type: 'relayFailed', code: 'RELAY_UNRELIABLE' }));
  }

  /** Re-opens (or, when it cannot come back, ends) a record whose mailbox the relay lost. */
  private reopenLost(mailbox: string): void {
    const reader = this.readers.get(mailbox);
    if (!reader) return;
    const kind = RECORD_KINDS[reader.kind];
    const record = kind.inFlight(this.deps.store.state).find((r) => r.id === reader.id);
    if (!record) return;
    const repair = kind.lostMailbox(record);
    const { logFailure } = this.deps;
    if (repair.by === 'machine')
      logFailure(this.step(kind, { ...record, afterSeq: 0 }, { type: 'mailboxLost' }, true));
    else if (repair.by === 'never') logFailure(this.step(kind, record, { type: 'mailboxLost' }));
    else {
      this.deps.warnings.warn({ id: record.id }, `the relay lost an ${kind.name} mailbox; re-creating it`);
      kind.replace(this.deps.store, { ...record, afterSeq: 0 });
      const effect = { type: 'openMailbox', mailbox: repair.mailbox, expiresAt: repair.expiresAt } as const;
      logFailure(this.saveThenRun(ownerKey(kind.name, record.id), [effect], this.ownerOf(record)));
    }
  }

  /**
   * A relay effect failed. When an accept's frame finds its mailbox gone, the relay is asked when
   * its store began: one that restarted while this agent ran may have lost a mailbox that its
   * issuer is about to put back (the machine decides). A relay already running when this agent
   * started has had that time, so its answer stands (a used link fails at once).
   */
  private async effectFailed(owner: EffectOwner, effect: RelayEffect, code: ErrorCode): Promise<void> {
    if (owner.kind === 'accept' && this.givesUpOnRelay(owner, code))
      return this.stepOwner(owner, { type: 'relayFailed', code });
    let since: number | undefined;
    if (code === 'INVITE_NOT_FOUND' && owner.kind === 'accept' && effect.type === 'send') {
      since = await this.deps.relays
        .holding(owner.relay, async (relay) => relay.storeSince?.())
        .catch((error: Error) => {
          this.deps.logger.debug({ err: error.message }, 'the relay did not say when its store began');
          return undefined;
        });
    }
    const event = { type: 'effectFailed', effect, code } as const;
    // Compared in ms: a relay that restarted within the second the agent started, after it, counts.
    if (since === undefined || since <= this.deps.startedAt.getTime()) return this.stepOwner(owner, event);
    return this.stepOwner(owner, { ...event, relayStoreSince: Math.floor(since / 1000) });
  }

  /** An accept whose relay never answered in its first seconds stops retrying it (agent/relay-trouble.ts). */
  private givesUpOnRelay(owner: EffectOwner, code: ErrorCode): boolean {
    const { store, relays, startedAt } = this.deps;
    const accept = store.state.accepts.find((a) => a.id === owner.id);
    return (
      accept !== undefined &&
      givesUpOnRelay({
        code,
        acceptStartedMs: Date.parse(accept.createdAt),
        agentStartedMs: Math.floor(startedAt.getTime() / 1000) * 1000,
        answeredAtMs: relays.has(owner.relay) ? relays.get(owner.relay).answeredAt : undefined,
        nowMs: this.deps.now() * 1000,
      })
    );
  }

  /**
   * A save failed earlier (or one is under way): it is tried again, and once one succeeds, the
   * records whose effects were dropped resend.
   */
  retrySaves(): void {
    if (this.unsaved.size === 0 && !this.deps.store.behind) return;
    const keys = [...this.unsaved];
    this.unsaved.clear();
    const { logFailure } = this.deps;
    logFailure(
      this.deps.store.persist().then(
        () => {
          for (const key of keys) {
            const [kind, id] = key.split(':') as [AnyRecordKind['name'], string];
            logFailure(this.stepOwner({ kind, id }, { type: 'resumed' }));
          }
        },
        (error: Error) => {
          for (const key of keys) this.unsaved.add(key);
          throw error;
        },
      ),
    );
  }

  /** The clock: closes relays no record needs any more, and steps each machine that has something due at `now`. */
  tick(now: number): void {
    this.sweepRelays();
    const state = this.deps.store.state;
    // Only records whose machine has something due: an agent may hold thousands that wait.
    for (const kind of KINDS)
      for (const record of kind.inFlight(state))
        if (kind.wakeAt(kind.machine(record)) <= now)
          this.deps.logFailure(this.step(kind, record, { type: 'clockTicked' }));
  }

  /** Closes the relays (but home) that no invite or accept in flight runs on any more. */
  private sweepRelays(): void {
    if (this.deps.relays.size <= 1) return;
    const inUse = new Set<string>();
    for (const kind of KINDS)
      for (const record of kind.inFlight(this.deps.store.state)) inUse.add(this.relayOf(record));
    this.deps.relays.sweep(inUse);
  }

  /** Nothing new starts from here: no effects, re-opens or ticks (the state is saved; a restart resumes). */
  stop(): void {
    this.stopping = true;
    this.lost.stop();
  }

  /** Resolves when every scheduled effect has run. */
  idle(): Promise<void> {
    return this.effects.idle();
  }
}
