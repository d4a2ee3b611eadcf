import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { pooledRandom } from '../io/random-pool.js';
import { crockfordSymbolsFromBits, writeCrockfordSymbols } from '../src/encoding/crockford.js';
import { toHex } from '../src/encoding/hex.js';
import { type ErrorCode, PairlinkError } from '../src/errors.js';
import {
  type AcceptorEvent,
  type AcceptTarget,
  acceptorWakeAt,
  startAcceptor,
  stepAcceptor,
} from '../src/handshake/acceptor.js';
import { inviteExpiryFromMailbox, inviteMailboxTtl } from '../src/handshake/deadlines.js';
import type { Effect, HostEvent, RelayEffect, StepContext } from '../src/handshake/effects.js';
import {
  type IssuerEvent,
  type IssuerStepContext,
  issuerWakeAt,
  stepIssuer,
} from '../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../src/handshake/mint.js';
import { issueCard, readVerifiedCard } from '../src/identity/card.js';
import { fingerprint, Identity } from '../src/identity/identity.js';
import {
  type InviteRequest,
  MAX_FAILED_CODE_ATTEMPTS,
  resolveInvitePolicy,
} from '../src/invite/invite-policy.js';
import { looksLikeInviteUrl, parseInviteUrl } from '../src/invite/invite-url.js';
import { checkRelayUrl, DEFAULT_RELAY_SETTINGS, type RelaySettings } from '../src/invite/relay-policy.js';
import { parseShortCode } from '../src/invite/short-code.js';
import { type BackoffSchedule, backoffDelayMs } from '../src/retry-backoff.js';
import type {
  AuditEntry,
  AuditIntegrity,
  InviteCreator,
  InviteProgress,
  PeerRemoved,
} from '../src/rpc/protocol.js';
import { AUDIT_ENTRIES_PER_FILE, AuditLog, type OpenedAuditLog } from './audit-log.js';
import { refuseBurnedCode, refuseOwnCode } from './code-attempts.js';
import { type EffectOwner, EffectRunner } from './effect-runner.js';
import type { SecretStore } from './keystore/secret-store.js';
import { PairingLog } from './pairing-log.js';
import { RelayPool, type RelayUse, relayKey } from './relay-pool.js';
import { type AgentClock, type RelayTransportFactory, systemClock } from './relay-transport.js';
import { givesUpOnRelay, warnRelayTrouble } from './relay-trouble.js';
import { RepeatedWarnings } from './repeated-warnings.js';
import type { AcceptRecord, AgentState, InviteRecord, PeerRecord } from './state/agent-state.js';
import { DurableState } from './state/durable-state.js';
import { wipeFinishedAcceptor, wipeFinishedInvite, wipeFinishedIssuer } from './state/wipe-finished.js';

export { FINISHED_RECORDS_KEPT, isFinished, pruneFinished } from './state/durable-state.js';

export interface AgentOptions {
  readonly stateFile: string;
  readonly keystore: SecretStore;
  readonly relayUrl: string;
  readonly name: string;
  readonly logger: Logger;
  /**
   * Opens the connection to one relay: the home relay at start, and each relay an invite or
   * accept runs on, on demand (the agent's root passes RelayConnection; tests pass fakes).
   */
  readonly transport: RelayTransportFactory;
  /** Relays open at once, the home relay included; by default DEFAULT_RELAY_LIMIT (32). */
  readonly relayLimit?: number | undefined;
  /** Seconds and a repeating timer; by default the system clock. */
  readonly clock?: AgentClock;
  /** Defaults for invite.create when a caller leaves them out (config `invites`). */
  readonly inviteDefaults?: InviteDefaults | undefined;
  /** Which relays an invite may name (config `agent`); by default DEFAULT_RELAY_SETTINGS. */
  readonly relaySettings?: RelaySettings | undefined;
  /** How a mailbox the relay lost is re-opened; by default DEFAULT_LOST_MAILBOX_RETRY. */
  readonly lostMailboxRetry?: LostMailboxRetry | undefined;
}

/** Re-opening a mailbox the relay says it lost: the backoff, and how many times before giving up. */
export interface LostMailboxRetry extends BackoffSchedule {
  /** Losses of one mailbox after which its invite or accept fails with RELAY_UNRELIABLE. */
  readonly maxLosses: number;
}

/**
 * A relay restart loses each mailbox once; a relay that says "created" and then "not found" for
 * ever (one named by a stranger may) would otherwise be asked again at CPU speed. Eight losses
 * take about 30 s on this schedule.
 */
export const DEFAULT_LOST_MAILBOX_RETRY: LostMailboxRetry = { baseMs: 500, ceilingMs: 10_000, maxLosses: 8 };

/** How long a stop keeps trying its last save on a full disk, and how often. */
export const STOP_SAVE_MS = 10_000;
const STOP_SAVE_RETRY_MS = 500;

/** Config-level invite defaults. */
export interface InviteDefaults {
  readonly format: 'url' | 'code';
  readonly urlTtlSeconds: number;
  readonly codeTtlSeconds: number;
}

const random = pooledRandom();
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** The progress statuses that end a pairing (or an invite), and the audit entry each makes. */
const OUTCOME_EVENTS: Partial<Record<InviteProgress['status'], AuditEntry['event']>> = {
  paired: 'paired',
  unconfirmed: 'unconfirmed',
  failed: 'failed',
  cancelled: 'cancelled',
  expired: 'expired',
};
/** A short local id from the first 5 bytes of an id: 8 Crockford symbols. */
function shortId(bytes: Uint8Array): string {
  return writeCrockfordSymbols(crockfordSymbolsFromBits(bytes, 8));
}

/** A save that failed with DISK_FULL, saying what that means for the call that asked for it. */
function notSaved(error: unknown, outcome: string): unknown {
  return error instanceof PairlinkError && error.code === 'DISK_FULL'
    ? new PairlinkError('DISK_FULL', `${error.message}: ${outcome}`)
    : error;
}

/** What DISK_FULL means for an operator's change to an invite, an accept or a peer (docs/PROTOCOL.md §7). */
const KEPT_UNSAVED =
  'the change is kept, and takes effect once a save succeeds (retried every second), unless the agent stops first';

/**
 * The agent: one identity, its pinned peers, and every invite and accept in flight. Each event
 * (a frame from the relay, an operator action, the clock, a failed relay effect) is one
 * synchronous machine step on the in-memory state; the step's effects run only after a save that
 * includes it (group commit: concurrent steps share one write). Effects that fail are fed back to
 * the machine, and after a restart every unfinished machine is told `resumed`, so a crash or a
 * relay outage at any point loses nothing and ends every pairing on both sides or neither.
 */
export class Agent {
  private identity!: Identity;
  /** The identity's raw secrets, for device invites' bundles. */
  private identitySecrets!: Uint8Array;
  private card!: Uint8Array;
  private store!: DurableState;
  private relays!: RelayPool;
  private readonly listeners = new Set<(progress: InviteProgress) => void>();
  private effects!: EffectRunner;
  private stopTicker: (() => void) | null = null;
  private readonly clock: AgentClock;
  /** Which record reads each mailbox (base64url id), and on which relay, so a frame finds its machine at once. */
  private readonly readers = new Map<string, { kind: 'invite' | 'accept'; id: string; relay: string }>();
  /** Records whose step could not be saved: their effects were dropped, so they resume once a save works. */
  private readonly unsaved = new Set<string>();
  /** Callers of waitForAccept, by accept id: each is handed every record its accept's steps leave. */
  private readonly acceptFollowers = new Map<string, Set<(record: AcceptRecord) => void>>();
  readonly startedAt = new Date();
  relayConnected = false;
  private audit: AuditLog | null = null;
  private readonly pairings: PairingLog;
  /** How often the relay lost each mailbox we read (base64url id), and the re-opens waiting out their backoff. */
  private readonly losses = new Map<string, number>();
  private readonly reopenTimers = new Map<string, NodeJS.Timeout>();
  private readonly lostMailboxRetry: LostMailboxRetry;
  private readonly warnings: RepeatedWarnings;
  /** stop() was called: no new effects, re-opens or ticks. */
  private stopping = false;

  private constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.pairings = new PairingLog(options.logger);
    this.lostMailboxRetry = options.lostMailboxRetry ?? DEFAULT_LOST_MAILBOX_RETRY;
    this.warnings = new RepeatedWarnings(options.logger);
  }

  private now(): number {
    return this.clock.now();
  }

  /** Opens the keystore's identity (creating one on first start), loads state, connects. */
  static async start(options: AgentOptions): Promise<Agent> {
    const keystore = options.keystore;
    let stateKey = await keystore.get('state-key');
    if (!stateKey) {
      stateKey = random(32);
      await keystore.set('state-key', stateKey);
    }
    const agent = new Agent(options);
    let secrets = await keystore.get('identity');
    if (!secrets) {
      const fresh = Identity.generate(random);
      secrets = Buffer.concat([fresh.secrets.signingSeed, fresh.secrets.agreementSecret]);
      await keystore.set('identity', secrets);
    }
    agent.useIdentity(secrets);
    agent.store = await DurableState.load(
      options.stateFile,
      stateKey,
      () => ({
        version: 1,
        name: options.name,
        createdAt: agent.now(),
        peers: [],
        invites: [],
        accepts: [],
      }),
      {
        takeLines: () => agent.audit?.takeLines() ?? [],
        syncBeforeCompact: () => agent.syncAudit(),
      },
    );
    agent.store.update((s) => ({ ...s, name: options.name }));
    const audit = await AuditLog.open(
      join(dirname(options.stateFile), 'audit.log'),
      stateKey,
      agent.store.state.audit,
      AUDIT_ENTRIES_PER_FILE,
      agent.store.carriedAuditLines,
    );
    agent.audit = audit.log;
    agent.reportAuditOpened(audit);
    const anchor = audit.log.anchor();
    agent.store.update((s) => ({ ...s, audit: anchor }));
    agent.card = issueCard(agent.identity, options.name, options.relayUrl, agent.store.state.createdAt).bytes;
    // On a full disk the agent starts all the same, owing this save (its tick retries it): the
    // files hold what they held, and it serves what it has.
    await agent.store.persist().then(
      () => audit.log.committed(anchor),
      (error: unknown) => {
        if (!(error instanceof PairlinkError && error.code === 'DISK_FULL')) throw error;
        options.logger.warn(
          { err: error.message },
          'started with the disk full: saving resumes once there is room',
        );
      },
    );
    agent.relays = new RelayPool(
      options.relayUrl,
      options.transport,
      {
        onMessage: (relay, mailbox, seq, body) => agent.onRelayMessage(relay, mailbox, seq, body),
        onMailboxGone: (relay, mailbox) => agent.onMailboxGone(relay, mailbox),
        onConnectionChange: (relay, connected) => {
          const home = relay === agent.relays.homeUrl;
          if (home) agent.relayConnected = connected;
          const origin = new URL(relay).origin;
          agent.warnings.info(
            home ? { connected } : { connected, relay: origin },
            `${home ? 'relay' : 'invite relay'} ${connected ? 'connected' : 'disconnected'}`,
          );
        },
        onTrouble: (relay, error) => warnRelayTrouble(agent.warnings, relay, error),
      },
      options.relayLimit,
    );
    agent.effects = new EffectRunner({
      relays: agent.relays,
      now: () => agent.now(),
      logger: options.logger,
      emit: (progress) => agent.emit(progress),
      failed: (owner, effect, code) => agent.effectFailed(owner, effect, code),
      delivered: (owner, frame) => agent.stepOwner(owner, { type: 'frameDelivered', frame }),
      // A failed accept leaves the state for the history at its save.
      hasFailed: (owner) =>
        owner.kind === 'accept' &&
        (
          agent.store.state.accepts.find((a) => a.id === owner.id) ??
          agent.store.history.accepts.find((a) => a.id === owner.id)
        )?.acceptor.phase === 'failed',
    });
    for (const invite of agent.store.state.invites) agent.listen(invite);
    for (const accept of agent.store.state.accepts) agent.listen(accept);
    // Whatever was in flight when the agent stopped (or was killed) goes out again now.
    for (const invite of agent.store.state.invites)
      agent.logFailure(agent.stepInvite(invite, { type: 'resumed' }));
    for (const accept of agent.store.state.accepts)
      agent.logFailure(agent.stepAccept(accept, { type: 'resumed' }));
    agent.stopTicker = agent.clock.every(1000, () => agent.tick());
    return agent;
  }

  /** One line each for an altered audit log, a torn last line cut off and a lost tail written back at start. */
  private reportAuditOpened({ integrity, tornBytes, restored }: OpenedAuditLog): void {
    const logger = this.options.logger;
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
  }

  /**
   * Runs before a compaction, which drops the audit lines the state log carried: the entries its
   * anchor names reach the audit file's disk first. A failure is logged rather than failing the
   * save: pairings must not stop for the history.
   */
  private syncAudit(): void {
    try {
      this.audit?.sync();
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'syncing the audit log failed');
    }
  }

  /**
   * Appends to the audit log and moves its anchor in the state. Called in the turn that applies
   * the change the entry records, before that change's save is asked for: the save (which syncs
   * the log first) then carries the anchor, rather than another save after it (a state append and
   * two fdatasyncs per entry). Once that save is on disk, the log may rotate past it.
   */
  private appendAudit(entry: AuditEntry): void {
    this.writeAudit((audit) => audit.append(entry));
  }

  /**
   * Writes to the audit log and saves its new anchor. While it cannot be written (a full disk),
   * one line a minute says so with the count of entries lost so far; once it can, one line says
   * how many were lost, as the `lost` entry written before the next one does in the history.
   */
  private writeAudit(write: (audit: AuditLog) => void): void {
    const audit = this.audit;
    if (!audit) return;
    const lost = audit.lostEntries;
    const head = audit.anchor().head;
    try {
      write(audit);
    } catch (error) {
      this.warnings.warn(
        { err: (error as Error).message, lost: audit.lostEntries },
        'the audit log could not be written: its entries are lost until it can be (count in "lost")',
      );
      return;
    }
    if (lost > 0 && audit.lostEntries === 0)
      this.options.logger.warn(
        { lost },
        'the audit log is written again: a "lost" entry in it counts the entries it missed',
      );
    const anchor = audit.anchor();
    if (anchor.head === head) return;
    this.store.update((s) => ({ ...s, audit: anchor }));
    this.logFailure(this.store.persist().then(() => audit.committed(anchor)));
  }

  private useIdentity(secrets: Uint8Array): void {
    this.identitySecrets = Uint8Array.from(secrets);
    this.identity = Identity.fromSecrets({
      signingSeed: secrets.subarray(0, 32),
      agreementSecret: secrets.subarray(32, 64),
    });
  }

  get did(): string {
    return this.identity.did;
  }
  get name(): string {
    return this.store.state.name;
  }
  get keystoreKind(): 'keychain' | 'file' {
    return this.options.keystore.kind;
  }
  get relayUrl(): string {
    return this.options.relayUrl;
  }
  get snapshot(): AgentState {
    return this.store.state;
  }
  get allInvites(): readonly InviteRecord[] {
    return this.store.allInvites;
  }
  get fingerprint(): string {
    return fingerprint(this.identity.signing.publicKey);
  }
  get cardBytes(): Uint8Array {
    return this.card;
  }
  /** Mailboxes watched at the home relay and the sockets carrying them. */
  get relayWatches(): { watches: number; sockets: number } {
    const home = this.relays.home;
    return { watches: home.watchCount, sockets: home.socketCount };
  }

  /** Every relay open now, home first, with its state and watch count (agent.info, metrics). */
  get relayUses(): RelayUse[] {
    return this.relays.uses();
  }

  /** The relay (pool key) a record's mailboxes live on; records from before the pool: as they ran. */
  private relayOf(record: InviteRecord | AcceptRecord): string {
    if (record.relayUrl) return record.relayUrl;
    if ('acceptor' in record && record.acceptor.target.form === 'url')
      return relayKey(record.acceptor.target.invite.relayUrl);
    return this.relays.homeUrl;
  }

  findInvite(id: string): InviteRecord {
    return this.store.findInvite(id);
  }

  findAccept(id: string): AcceptRecord {
    return this.store.findAccept(id);
  }

  private readonly removalListeners = new Set<(removed: PeerRemoved) => void>();

  /** Receives every `peer.removed` notification. */
  onPeerRemoved(listener: (removed: PeerRemoved) => void): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }

  /** Receives every `invite.progress` notification. */
  onProgress(listener: (progress: InviteProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private context(): IssuerStepContext & StepContext {
    const secrets = this.identitySecrets;
    return {
      identity: this.identity,
      card: this.card,
      now: this.now(),
      random,
      deviceBundle: () => ({
        signingSeed: secrets.subarray(0, 32),
        agreementSecret: secrets.subarray(32, 64),
        name: this.name,
      }),
    };
  }

  /**
   * Watches a record's mailbox from where its machine left off, on its relay. A relay the pool
   * cannot open (RELAY_LIMIT, after a restart with a lower limit) fails that record alone.
   */
  private listen(record: InviteRecord | AcceptRecord): void {
    const owner = this.ownerOf(record);
    this.readers.set(b64(owner.mailboxId), { kind: owner.kind, id: owner.id, relay: owner.relay });
    try {
      this.relays.get(owner.relay).watch(owner.mailboxId, owner.readCapability, record.afterSeq);
    } catch (error) {
      if (!(error instanceof PairlinkError)) throw error;
      this.logFailure(this.stepOwner(owner, { type: 'relayFailed', code: error.code }));
    }
  }

  private ownerOf(record: InviteRecord | AcceptRecord): EffectOwner {
    return 'issuer' in record
      ? {
          kind: 'invite',
          id: record.id,
          mailboxId: record.issuer.mailboxId,
          readCapability: record.readCapability,
          relay: this.relayOf(record),
        }
      : {
          kind: 'accept',
          id: record.id,
          mailboxId: record.acceptor.replyBox.mailboxId,
          readCapability: record.acceptor.replyBox.readCapability,
          relay: this.relayOf(record),
        };
  }

  /** Mints an invite: registers its mailbox (and nameplate) at the relay, then records it. */
  async createInvite(
    params: InviteRequest & { label?: string | undefined; creator?: InviteCreator | undefined },
  ): Promise<InviteRecord> {
    const defaults = this.options.inviteDefaults;
    const format = params.format ?? defaults?.format ?? 'url';
    const configuredTtl = format === 'url' ? defaults?.urlTtlSeconds : defaults?.codeTtlSeconds;
    const policy = resolveInvitePolicy({
      ...params,
      format,
      ...(params.ttlSeconds === undefined && params.mode !== 'device' && configuredTtl !== undefined
        ? { ttlSeconds: configuredTtl }
        : {}),
    });
    const now = this.now();
    const readCapability = random(16);
    // The mailbox outlives the invite by the grace period and the ack windows (deadlines.ts).
    const ttl = inviteMailboxTtl(policy.ttlSeconds);
    let record: InviteRecord;
    let registered: Promise<void> = Promise.resolve();
    // Minted on the home relay, and kept there if the agent's relay changes later.
    const relay = this.relays.home;
    if (policy.format === 'url') {
      const minted = mintUrlInvite(this.identity, policy, this.options.relayUrl, now, random);
      // The mailbox is created at the relay while the record is saved (below).
      registered = relay.createMailbox(
        minted.invite.mailboxId,
        readCapability,
        minted.invite.writeCapability,
        ttl,
      );
      record = {
        ...this.newInviteRecord(
          minted.issuer,
          readCapability,
          { url: minted.webUrl, customUrl: minted.customUrl },
          params.label,
        ),
        writeCapability: minted.invite.writeCapability,
      };
    } else {
      const mailboxId = random(16);
      await relay.createMailbox(mailboxId, readCapability, null, ttl);
      const maxClaims = Math.min(16, policy.uses + MAX_FAILED_CODE_ATTEMPTS);
      const { nameplate } = await relay.createNameplate(mailboxId, readCapability, maxClaims);
      const minted = mintCodeInvite(policy, nameplate, mailboxId, now, random);
      record = this.newInviteRecord(minted.issuer, readCapability, { code: minted.text }, params.label);
    }
    record = { ...record, relayUrl: this.relays.homeUrl };
    if (params.creator) record = { ...record, creator: params.creator };
    const created = record;
    this.store.update((s) => ({ ...s, invites: [...s.invites, created] }));
    const by = params.creator ?? { kind: 'script' };
    const at = new Date(now * 1000).toISOString();
    this.appendAudit({
      at,
      event: 'minted',
      invite: record.id,
      by,
      format: record.format,
      uses: policy.uses,
    });
    // Both settle before either is looked at: a save that fails (a full disk) while the relay is
    // still being asked is this call's error, never an unhandled rejection that ends the agent.
    const [registration, save] = await Promise.allSettled([registered, this.store.persist()]);
    const failed = [registration, save].find((r) => r.status === 'rejected');
    if (failed) {
      // The relay refused or is away, or the invite is not on disk (a full disk): nobody holds it
      // yet, so it is forgotten again, never to turn up later behind the caller's back. A mailbox
      // the relay made for it is deleted.
      const reason: unknown = failed.reason;
      const code = reason instanceof PairlinkError ? reason.code : 'INTERNAL';
      this.store.update((s) => ({ ...s, invites: s.invites.filter((i) => i.id !== created.id) }));
      this.appendAudit({ at, event: 'failed', role: 'issuer', invite: record.id, by, code });
      if (registration.status === 'fulfilled')
        this.effects.schedule(
          [{ type: 'closeMailbox', mailboxId: record.issuer.mailboxId }],
          this.ownerOf(record),
        );
      await this.store.persist().catch(() => undefined);
      throw notSaved(reason, 'the invite was not made');
    }
    this.listen(record);
    this.emit({ id: record.id, role: 'issuer', status: 'published' });
    return record;
  }

  private newInviteRecord(
    issuer: InviteRecord['issuer'],
    readCapability: Uint8Array,
    text: { url?: string; customUrl?: string; code?: string },
    label: string | undefined,
  ): InviteRecord {
    return {
      id: shortId(issuer.mailboxId),
      format: issuer.formSecret.form,
      mode: issuer.mode,
      ...(label ? { label } : {}),
      createdAt: new Date(this.now() * 1000).toISOString(),
      ...text,
      readCapability,
      afterSeq: 0,
      // Seeded ephemerals: replies may go out while their step is saved (Step.replayable).
      issuer: { ...issuer, ephemeralSeed: random(32) },
      sas: {},
    };
  }

  /**
   * Feeds an operator event to an invite's machine and waits until its result is saved; resolves
   * with the invite as the step left it. Not looked up again after the save: the save moves a
   * finished invite to the history, which may drop it at once when many finish together.
   */
  issuerEvent(id: string, event: IssuerEvent): Promise<InviteRecord> {
    return this.stepInvite(this.findInvite(id), event).catch((error: unknown) => {
      throw notSaved(error, KEPT_UNSAVED);
    });
  }

  /**
   * Starts accepting an invite URL or code; resolves with the accept record once recorded. A link
   * runs on the relay it names; a code on `relayUrl` when given, else on the home relay. The
   * record keeps its relay, so a restart resumes there.
   */
  async startAccept(text: string, requireSas: boolean, relayUrl?: string): Promise<AcceptRecord> {
    const trimmed = text.trim();
    let target: AcceptTarget;
    let relay: string;
    if (looksLikeInviteUrl(trimmed)) {
      const invite = parseInviteUrl(trimmed, this.now());
      // The policy first: a relay this agent would never contact is refused for that reason.
      this.refuseRelay(invite.relayUrl);
      relay = relayKey(invite.relayUrl);
      if (relayUrl !== undefined && relayKey(relayUrl) !== relay)
        throw new PairlinkError(
          'INVALID_PARAMS',
          `this link names its own relay (${relay}); --relay is for codes, which carry none`,
        );
      // RELAY_LIMIT now, before anything is recorded.
      this.relays.get(relay);
      target = { form: 'url', invite };
    } else {
      const code = parseShortCode(trimmed);
      if (relayUrl !== undefined) this.refuseRelay(relayUrl);
      relay = relayUrl === undefined ? this.relays.homeUrl : relayKey(relayUrl);
      // Nameplates are per relay: only this relay's invites and accepts say anything about this one.
      const onRelay = <R extends InviteRecord | AcceptRecord>(records: readonly R[]) =>
        records.filter((r) => this.relayOf(r) === relay);
      refuseOwnCode(onRelay(this.store.state.invites), code.nameplate);
      const claim = await this.relays.holding(relay, (r) =>
        r.claimNameplate(code.nameplate).catch((error: unknown) => {
          if (error instanceof PairlinkError && error.code === 'INVITE_NOT_FOUND')
            refuseBurnedCode(onRelay(this.store.allAccepts), code.nameplate, null);
          throw error;
        }),
      );
      refuseBurnedCode(onRelay(this.store.allAccepts), code.nameplate, claim.mailboxId);
      target = {
        form: 'code',
        code,
        issuerMailbox: { mailboxId: claim.mailboxId, writeCapability: claim.writeCap },
        expiresAt: inviteExpiryFromMailbox(Math.floor(claim.expiresAt / 1000)),
      };
    }
    const started = startAcceptor(target, requireSas, this.context());
    const record: AcceptRecord = {
      id: shortId(started.state.sessionId),
      createdAt: new Date(this.now() * 1000).toISOString(),
      afterSeq: 0,
      relayUrl: relay,
      acceptor: started.state,
    };
    this.store.update((s) => ({ ...s, accepts: [...s.accepts, record] }));
    // The reply box opens while the record is saved; the hello waits for the save.
    const saved = this.store.persist();
    this.readers.set(b64(started.state.replyBox.mailboxId), { kind: 'accept', id: record.id, relay });
    this.pairings.acceptStarted(record.id);
    this.schedule(started.effects, this.ownerOf(record), saved);
    try {
      await saved;
    } catch (error) {
      // Not on disk, so nothing went to the issuer (the hello waits for the save): the accept is
      // forgotten again and answers the save's error, never to complete later behind the caller's
      // back. Its reply box, which may be open at the relay already, is deleted.
      const replyBox = started.state.replyBox.mailboxId;
      this.store.update((s) => ({ ...s, accepts: s.accepts.filter((a) => a.id !== record.id) }));
      this.forgetReader(b64(replyBox));
      this.effects.schedule([{ type: 'closeMailbox', mailboxId: replyBox }], this.ownerOf(record));
      throw notSaved(error, 'nothing was sent to the issuer; accept again once there is room');
    }
    return record;
  }

  /** Throws RELAY_REFUSED when the relay-URL policy (src/invite/relay-policy.ts) refuses `relayUrl`. */
  refuseRelay(relayUrl: string): void {
    const verdict = checkRelayUrl(
      relayUrl,
      this.options.relayUrl,
      this.options.relaySettings ?? DEFAULT_RELAY_SETTINGS,
    );
    if (!verdict.ok) throw new PairlinkError('RELAY_REFUSED', verdict.reason);
  }

  /** Feeds an operator event to an accept's machine; resolves, once saved, with the accept as the step left it. */
  acceptorEvent(id: string, event: AcceptorEvent): Promise<AcceptRecord> {
    return this.stepAccept(this.findAccept(id), event).catch((error: unknown) => {
      throw notSaved(error, KEPT_UNSAVED);
    });
  }

  /**
   * Resolves when the accept `id` is paired, failed or waiting for the SAS, or after `seconds`,
   * with the accept as its latest step left it: followed step by step rather than looked up when
   * the event comes, since the save before the event may already have dropped it from the history.
   */
  waitForAccept(id: string, seconds: number): Promise<AcceptRecord> {
    let latest = this.findAccept(id);
    const key = latest.id;
    return new Promise((resolve) => {
      const followers = this.acceptFollowers.get(key) ?? new Set();
      const follow = (record: AcceptRecord) => {
        latest = record;
      };
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        followers.delete(follow);
        if (followers.size === 0) this.acceptFollowers.delete(key);
        resolve(latest);
      };
      followers.add(follow);
      this.acceptFollowers.set(key, followers);
      const unsubscribe = this.onProgress((p) => {
        if (p.id === key && (p.status === 'paired' || p.status === 'failed' || p.status === 'sas')) done();
      });
      const timer = setTimeout(done, seconds * 1000);
      // Already there (a caller that asks after the 'sas' event went out): answer now, not at the timeout.
      const phase = latest.acceptor.phase;
      if (phase === 'paired' || phase === 'failed' || phase === 'awaitingSas') done();
    });
  }

  async removePeer(did: string): Promise<boolean> {
    const removed = this.store.state.peers.find((p) => p.did === did);
    if (!removed) return false;
    this.store.update((s) => ({ ...s, peers: s.peers.filter((p) => p.did !== did) }));
    const event: PeerRemoved = { did, name: removed.name, at: new Date(this.now() * 1000).toISOString() };
    this.appendAudit({ at: event.at, event: 'unpaired', peer: { did, name: removed.name } });
    // Waits first, so "unpaired" is told before what the invites report about it.
    const saved = this.store.persist();
    // In the same save: every invite minted before now refuses this peer from here on, and a
    // session still waiting for this peer's ack ends (a late ack announces nothing).
    for (const invite of this.store.state.invites)
      this.logFailure(this.stepInvite(invite, { type: 'peerRemoved', did }));
    await saved.catch((error: unknown) => {
      throw notSaved(error, KEPT_UNSAVED);
    });
    for (const listener of this.removalListeners) listener(event);
    return true;
  }

  /** The peer record for `did`, with its card decoded. */
  peerCard(did: string) {
    const peer = this.store.state.peers.find((p) => p.did === did);
    if (!peer) throw new PairlinkError('PEER_NOT_FOUND', `no pinned peer ${did}`);
    return { peer, card: readVerifiedCard(peer.card) };
  }

  private onRelayMessage(relay: string, mailbox: string, seq: number, frame: Uint8Array): void {
    const reader = this.readers.get(mailbox);
    // Only the relay the record runs on speaks for its mailbox.
    if (!reader || reader.relay !== relay) return;
    if (reader.kind === 'invite') {
      const invite = this.store.state.invites.find((i) => i.id === reader.id);
      if (invite && seq > invite.afterSeq)
        this.logFailure(this.stepInvite({ ...invite, afterSeq: seq }, { type: 'frameReceived', frame }));
    } else {
      const accept = this.store.state.accepts.find((a) => a.id === reader.id);
      if (accept && seq > accept.afterSeq)
        this.logFailure(this.stepAccept({ ...accept, afterSeq: seq }, { type: 'frameReceived', frame }));
    }
  }

  /**
   * The relay no longer has one of our mailboxes (a relay that lost its state, or an expiry). A
   * re-created mailbox starts again at sequence 1. An accept's machine re-opens its reply box
   * itself; a link invite's mailbox is re-created here (its write capability is kept for this); a
   * code's nameplate cannot come back, so its invite learns that nothing more will arrive. Each
   * re-open waits out a backoff with jitter, and past `maxLosses` losses of one mailbox (a relay
   * that says "created" and then "not found" for ever) its invite or accept fails RELAY_UNRELIABLE.
   */
  private onMailboxGone(relay: string, mailbox: string): void {
    const reader = this.readers.get(mailbox);
    if (!reader || reader.relay !== relay || this.stopping || this.reopenTimers.has(mailbox)) return;
    const invite = reader.kind === 'invite' ? this.store.state.invites.find((i) => i.id === reader.id) : null;
    // A code's invite (no write capability to re-create its mailbox) just ends: no loop to bound.
    if (invite && !invite.writeCapability) {
      this.reopenLost(mailbox);
      return;
    }
    const losses = (this.losses.get(mailbox) ?? 0) + 1;
    this.losses.set(mailbox, losses);
    const retry = this.lostMailboxRetry;
    if (losses > retry.maxLosses) {
      this.losses.delete(mailbox);
      this.options.logger.warn(
        { relay: new URL(relay).origin, [reader.kind]: reader.id, losses: retry.maxLosses },
        'the relay kept saying it created a mailbox and then that it had none; gave up on it (RELAY_UNRELIABLE)',
      );
      this.logFailure(this.stepOwner(reader, { type: 'relayFailed', code: 'RELAY_UNRELIABLE' }));
      return;
    }
    // Backed off with jitter: a relay that answers "created" then "not found" at once must not
    // be asked again at CPU speed.
    const delay = backoffDelayMs(losses - 1, retry, Math.random());
    const timer = setTimeout(() => {
      this.reopenTimers.delete(mailbox);
      if (!this.stopping) this.reopenLost(mailbox);
    }, delay);
    this.reopenTimers.set(mailbox, timer);
  }

  /** Re-opens (or, for a code, ends) a record whose mailbox the relay lost. */
  private reopenLost(mailbox: string): void {
    const reader = this.readers.get(mailbox);
    if (!reader) return;
    if (reader.kind === 'accept') {
      const accept = this.store.state.accepts.find((a) => a.id === reader.id);
      if (accept) this.logFailure(this.stepAccept({ ...accept, afterSeq: 0 }, { type: 'mailboxLost' }, true));
      return;
    }
    const invite = this.store.state.invites.find((i) => i.id === reader.id);
    if (!invite) return;
    if (!invite.writeCapability) {
      this.logFailure(this.stepInvite(invite, { type: 'mailboxLost' }));
      return;
    }
    this.warnings.warn({ id: invite.id }, 'the relay lost an invite mailbox; re-creating it');
    this.store.replaceInvite({ ...invite, afterSeq: 0 });
    const owner = this.ownerOf(invite);
    const box = {
      mailboxId: owner.mailboxId,
      writeCapability: invite.writeCapability,
      readCapability: owner.readCapability,
    };
    const expiresAt = invite.issuer.expiresAt + inviteMailboxTtl(0);
    this.logFailure(
      this.saveThenRun(`invite:${invite.id}`, [{ type: 'openMailbox', mailbox: box, expiresAt }], owner),
    );
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
      since = await this.relays
        .holding(owner.relay, async (relay) => relay.storeSince?.())
        .catch((error: Error) => {
          this.options.logger.debug({ err: error.message }, 'the relay did not say when its store began');
          return undefined;
        });
    }
    const event = { type: 'effectFailed', effect, code } as const;
    // Compared in ms: a relay that restarted within the second the agent started, after it, counts.
    if (since === undefined || since <= this.startedAt.getTime()) return this.stepOwner(owner, event);
    return this.stepOwner(owner, { ...event, relayStoreSince: Math.floor(since / 1000) });
  }

  /** An accept whose relay never answered in its first seconds stops retrying it (agent/relay-trouble.ts). */
  private givesUpOnRelay(owner: EffectOwner, code: ErrorCode): boolean {
    const accept = this.store.state.accepts.find((a) => a.id === owner.id);
    return (
      accept !== undefined &&
      givesUpOnRelay({
        code,
        acceptStartedMs: Date.parse(accept.createdAt),
        agentStartedMs: Math.floor(this.startedAt.getTime() / 1000) * 1000,
        answeredAtMs: this.relays.has(owner.relay) ? this.relays.get(owner.relay).answeredAt : undefined,
        nowMs: this.now() * 1000,
      })
    );
  }

  /** Feeds a host event to whichever machine owns the effects that caused it. */
  private async stepOwner(owner: Pick<EffectOwner, 'kind' | 'id'>, event: HostEvent): Promise<void> {
    if (owner.kind === 'invite') {
      const invite = this.store.state.invites.find((i) => i.id === owner.id);
      if (invite) await this.stepInvite(invite, event);
      return;
    }
    const accept = this.store.state.accepts.find((a) => a.id === owner.id);
    if (accept) await this.stepAccept(accept, event);
  }

  /**
   * One issuer step: applied now, saved (with whatever else is pending), then its effects run.
   * Resolves with the invite as the step left it.
   */
  private async stepInvite(record: InviteRecord, event: IssuerEvent): Promise<InviteRecord> {
    const current = this.findInvite(record.id);
    const { state: stepped, effects, replayable } = stepIssuer(current.issuer, event, this.context());
    const state = wipeFinishedIssuer(stepped);
    if (state === current.issuer && record.afterSeq === current.afterSeq && effects.length === 0)
      return current;
    let sas = current.sas;
    for (const effect of effects)
      if (effect.type === 'sasReady') sas = { ...sas, [toHex(effect.sessionId)]: effect.sas };
    const next: InviteRecord = wipeFinishedInvite({
      ...current,
      afterSeq: Math.max(current.afterSeq, record.afterSeq),
      issuer: state,
      sas,
    });
    this.store.replaceInvite(next);
    this.applyPins(effects);
    this.recordOutcomes(effects, next);
    await this.saveThenRun(`invite:${record.id}`, effects, this.ownerOf(current), replayable);
    return next;
  }

  /** One acceptor step, likewise (`restart` takes the record's afterSeq as given: a re-created box). */
  private async stepAccept(
    record: AcceptRecord,
    event: AcceptorEvent,
    restart = false,
  ): Promise<AcceptRecord> {
    const current = this.findAccept(record.id);
    const { state: stepped, effects, replayable } = stepAcceptor(current.acceptor, event, this.context());
    const state = wipeFinishedAcceptor(stepped);
    if (state === current.acceptor && record.afterSeq === current.afterSeq && effects.length === 0)
      return current;
    const sasEffect = effects.find((e): e is Extract<Effect, { type: 'sasReady' }> => e.type === 'sasReady');
    const next: AcceptRecord = {
      ...current,
      afterSeq: restart ? record.afterSeq : Math.max(current.afterSeq, record.afterSeq),
      acceptor: state,
      ...(sasEffect ? { sas: sasEffect.sas } : {}),
    };
    this.store.replaceAccept(next);
    for (const follow of this.acceptFollowers.get(next.id) ?? []) follow(next);
    this.applyPins(effects);
    const imported = effects.find(
      (e): e is Extract<Effect, { type: 'importIdentity' }> => e.type === 'importIdentity',
    );
    if (imported) {
      // Device mode: this machine becomes another device of the issuer's identity.
      const secrets = Buffer.concat([imported.bundle.signingSeed, imported.bundle.agreementSecret]);
      await this.options.keystore.set('identity', secrets);
      this.useIdentity(secrets);
      this.store.update((s) => ({ ...s, name: imported.bundle.name }));
      this.card = issueCard(
        this.identity,
        imported.bundle.name,
        this.options.relayUrl,
        this.store.state.createdAt,
      ).bytes;
    }
    this.recordOutcomes(effects, next);
    await this.saveThenRun(`accept:${record.id}`, effects, this.ownerOf(current), replayable && !imported);
    return next;
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
    const saved = this.store.persist();
    // Replayable: everything now. Otherwise a mailbox may open now, the rest after the save.
    this.schedule(effects, owner, replayable === true && !pins ? undefined : saved);
    try {
      await saved;
    } catch (error) {
      this.unsaved.add(key);
      throw error;
    }
  }

  /** Records pins in the state, in the same save as the step, so a pairing is recorded whole or not at all. */
  private applyPins(effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.type === 'pin' && effect.peer.did !== this.identity.did) {
        const existing = this.store.state.peers.find((p) => p.did === effect.peer.did);
        const peer: PeerRecord = {
          did: effect.peer.did,
          name: effect.peer.name,
          card: effect.peer.bytes,
          pairedAt: new Date(this.now() * 1000).toISOString(),
          relayUrl: effect.peer.relayUrl,
          relation: effect.mode,
          // A peer already confirmed by an earlier pairing stays confirmed.
          confirmed: effect.confirmed || (existing !== undefined && existing.confirmed !== false),
          session: toHex(effect.sessionId),
        };
        this.store.update((s) => ({ ...s, peers: [...s.peers.filter((p) => p.did !== peer.did), peer] }));
      } else if (effect.type === 'confirmPin' || effect.type === 'unpin') {
        const session = toHex(effect.sessionId);
        const peer = this.store.state.peers.find((p) => p.did === effect.did);
        // Only the session that made an unconfirmed pin may confirm or withdraw it.
        if (!peer || peer.session !== session || peer.confirmed !== false) continue;
        this.store.update((s) => ({
          ...s,
          peers:
            effect.type === 'unpin'
              ? s.peers.filter((p) => p !== peer)
              : s.peers.map((p) => (p === peer ? { ...peer, confirmed: true } : p)),
        }));
      }
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
    this.losses.delete(mailbox);
    clearTimeout(this.reopenTimers.get(mailbox));
    this.reopenTimers.delete(mailbox);
  }

  private emit(progress: Omit<InviteProgress, 'at'>): void {
    const full: InviteProgress = { ...progress, at: new Date(this.now() * 1000).toISOString() };
    this.pairings.observe(full);
    for (const listener of this.listeners) listener(full);
  }

  /**
   * The history's side of a step: an entry for each way a pairing ends among its progress effects,
   * with whose invite it was. Appended as the step is applied, so the step's own save names it
   * (appendAudit): the outcome and its entry reach the disk together, whether or not the effects
   * run after it (a failed save drops them; the record resumes without telling its progress again).
   */
  private recordOutcomes(effects: readonly Effect[], record: InviteRecord | AcceptRecord): void {
    for (const effect of effects) {
      if (effect.type !== 'progress') continue;
      const event = OUTCOME_EVENTS[effect.status];
      if (!event) continue;
      this.appendAudit({
        at: new Date(this.now() * 1000).toISOString(),
        event,
        ...('issuer' in record
          ? { role: 'issuer', invite: record.id, ...(record.creator ? { by: record.creator } : {}) }
          : { role: 'acceptor', accept: record.id }),
        ...(effect.peer ? { peer: { did: effect.peer.did, name: effect.peer.name } } : {}),
        ...(effect.code ? { code: effect.code } : {}),
      });
    }
  }

  /** The history, oldest first, and whether its chain is whole (`history.list`). */
  async history(
    since: string | undefined,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; integrity: AuditIntegrity }> {
    if (!this.audit) throw new PairlinkError('INTERNAL', 'history before the agent started');
    return this.audit.list(since, limit);
  }

  private logFailure(step: Promise<unknown>): void {
    step.catch((error: Error) => {
      // A full disk fails every save until space is freed: a line a minute says so, not one a step.
      if (error instanceof PairlinkError && error.code === 'DISK_FULL')
        this.warnings.warn({ err: error.message }, 'saving failed: the disk is full (retried every second)');
      else this.options.logger.error({ err: error.message }, 'saving a pairing step failed');
    });
  }

  private tick(): void {
    if (this.unsaved.size > 0 || this.store.behind) this.retryUnsaved();
    const now = this.now();
    if (this.audit?.lostEntries)
      this.writeAudit((audit) => audit.recordLost(new Date(now * 1000).toISOString()));
    this.logFailure(this.store.wipeFinishedFromFiles(now));
    this.sweepRelays();
    // Only records whose machine has something due: an agent may hold thousands that wait.
    for (const invite of this.store.state.invites)
      if (issuerWakeAt(invite.issuer) <= now)
        this.logFailure(this.stepInvite(invite, { type: 'clockTicked' }));
    for (const accept of this.store.state.accepts)
      if (acceptorWakeAt(accept.acceptor) <= now)
        this.logFailure(this.stepAccept(accept, { type: 'clockTicked' }));
  }

  /** Closes the relays (but home) that no invite or accept in flight runs on any more. */
  private sweepRelays(): void {
    if (this.relays.size <= 1) return;
    const inUse = new Set<string>();
    for (const invite of this.store.state.invites) inUse.add(this.relayOf(invite));
    for (const accept of this.store.state.accepts) inUse.add(this.relayOf(accept));
    this.relays.sweep(inUse);
  }

  /**
   * A save failed earlier (or one is under way): it is tried again, and once one succeeds, the
   * records whose effects were dropped resend.
   */
  private retryUnsaved(): void {
    const keys = [...this.unsaved];
    this.unsaved.clear();
    this.logFailure(
      this.store.persist().then(
        () => {
          for (const key of keys) {
            const [kind, id] = key.split(':') as ['invite' | 'accept', string];
            this.logFailure(this.stepOwner({ kind, id }, { type: 'resumed' }));
          }
        },
        (error: Error) => {
          for (const key of keys) this.unsaved.add(key);
          throw error;
        },
      ),
    );
  }

  /**
   * Stops timers and the relay connection once the last save and the queued effects are done.
   * Rejects, after stopping all the same, when the last save failed: changes answered DISK_FULL
   * are lost then, and nothing that was acknowledged.
   */
  async stop(): Promise<void> {
    // Nothing new starts from here (a relay in a loop of answers would otherwise keep the
    // effect queue from ever draining, and SIGTERM from ever ending the agent).
    this.stopping = true;
    for (const timer of this.reopenTimers.values()) clearTimeout(timer);
    this.reopenTimers.clear();
    this.stopTicker?.();
    let failure: unknown = null;
    await this.saveBeforeStop().catch((error: unknown) => {
      failure = error;
    });
    await this.effects.idle();
    await this.store.close().catch((error: unknown) => {
      failure ??= error;
    });
    try {
      await this.audit?.close();
    } finally {
      this.relays.close();
    }
    if (failure) throw failure;
  }

  /**
   * The last save. On a full disk it is tried again (space may come back) until STOP_SAVE_MS have
   * passed, well inside a service manager's stop timeout (systemd's TimeoutStopSec=20), then given
   * up with one line.
   */
  private async saveBeforeStop(): Promise<void> {
    const deadline = Date.now() + STOP_SAVE_MS;
    for (let attempts = 1; ; attempts++) {
      try {
        return await this.store.persist();
      } catch (error) {
        if (!(error instanceof PairlinkError && error.code === 'DISK_FULL')) throw error;
        if (Date.now() >= deadline) {
          this.options.logger.error(
            { err: error.message, attempts },
            'stopped without saving the last changes: the disk is full',
          );
          throw notSaved(
            error,
            'the changes answered DISK_FULL are lost; everything acknowledged is on disk',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, STOP_SAVE_RETRY_MS));
      }
    }
  }
}
