import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { pooledRandom } from '../io/random-pool.js';
import { crockfordSymbolsFromBits, writeCrockfordSymbols } from '../src/encoding/crockford.js';
import { PairlinkError } from '../src/errors.js';
import { type AcceptorEvent, type AcceptTarget, startAcceptor } from '../src/handshake/acceptor.js';
import { inviteExpiryFromMailbox, inviteMailboxTtl } from '../src/handshake/deadlines.js';
import type { DeviceBundle } from '../src/handshake/device-bundle.js';
import type { IssuerEvent, IssuerStepContext } from '../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../src/handshake/mint.js';
import { issueCard, readVerifiedCard } from '../src/identity/card.js';
import { fingerprint, Identity } from '../src/identity/identity.js';
import {
  type InviteRequest,
  MAX_FAILED_CODE_ATTEMPTS,
  resolveInvitePolicy,
} from '../src/invite/invite-policy.js';
import { parseInviteText } from '../src/invite/invite-text.js';
import { checkRelayUrl, DEFAULT_RELAY_SETTINGS, type RelaySettings } from '../src/invite/relay-policy.js';
import type {
  AuditEntry,
  AuditIntegrity,
  InviteCreator,
  InviteProgress,
  PeerRemoved,
} from '../src/rpc/protocol.js';
import { AuditTrail } from './audit-trail.js';
import { refuseBurnedCode, refuseOwnCode } from './code-attempts.js';
import { type SaveFailureLog, saveFailureLog } from './failed-saves.js';
import type { SecretStore } from './keystore/secret-store.js';
import { DEFAULT_LOST_MAILBOX_RETRY, type LostMailboxRetry } from './lost-mailboxes.js';
import { PairingLog } from './pairing-log.js';
import { ACCEPTS, INVITES } from './record-kinds.js';
import { RelayPool, type RelayUse, relayKey } from './relay-pool.js';
import { type AgentClock, type RelayTransportFactory, systemClock } from './relay-transport.js';
import { warnRelayTrouble } from './relay-trouble.js';
import { RepeatedWarnings } from './repeated-warnings.js';
import type { AcceptRecord, AgentState, InviteRecord } from './state/agent-state.js';
import { DurableState } from './state/durable-state.js';
import { StepEngine } from './step-engine.js';

export type { LostMailboxRetry } from './lost-mailboxes.js';
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
 * The agent: one identity, its pinned peers, and every invite and accept in flight. This class
 * holds the lifecycle (start, stop), the identity and the operator API; every event of an invite
 * or accept is a machine step of the step engine (step-engine.ts), whose effects run only after
 * a save that includes it. Effects that fail are fed back to the machine, and after a restart
 * every unfinished machine is told `resumed`, so a crash or a relay outage at any point loses
 * nothing and ends every pairing on both sides or neither.
 */
export class Agent {
  private identity!: Identity;
  /** The identity's raw secrets, for device invites' bundles. */
  private identitySecrets!: Uint8Array;
  private card!: Uint8Array;
  private store!: DurableState;
  private relays!: RelayPool;
  private stopTicker: (() => void) | null = null;
  private readonly clock: AgentClock;
  readonly startedAt = new Date();
  relayConnected = false;
  private audit: AuditTrail | null = null;
  private readonly pairings: PairingLog;
  private readonly warnings: RepeatedWarnings;
  private readonly listeners = new Set<(progress: InviteProgress) => void>();
  /** Every invite's and accept's machine, stepped and saved (step-engine.ts). */
  private engine!: StepEngine;
  private readonly logFailure: SaveFailureLog;

  private constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.pairings = new PairingLog(options.logger);
    this.warnings = new RepeatedWarnings(options.logger);
    this.logFailure = saveFailureLog(options.logger, this.warnings);
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
      () => agent.audit?.sync(),
    );
    agent.store.update((s) => ({ ...s, name: options.name }));
    const audit = await AuditTrail.open(join(dirname(options.stateFile), 'audit.log'), stateKey, {
      store: agent.store,
      logger: options.logger,
      warnings: agent.warnings,
      logFailure: agent.logFailure,
    });
    agent.audit = audit;
    const anchor = audit.anchor();
    agent.card = issueCard(agent.identity, options.name, options.relayUrl, agent.store.state.createdAt).bytes;
    // On a full disk the agent starts all the same, owing this save (its tick retries it): the
    // files hold what they held, and it serves what it has.
    await agent.store.persist().then(
      () => audit.committed(anchor),
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
        onMessage: (relay, mailbox, seq, body) => agent.engine.onRelayMessage(relay, mailbox, seq, body),
        onMailboxGone: (relay, mailbox) => agent.engine.onMailboxGone(relay, mailbox),
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
    agent.engine = new StepEngine({
      store: agent.store,
      relays: agent.relays,
      logger: options.logger,
      warnings: agent.warnings,
      now: () => agent.now(),
      startedAt: agent.startedAt,
      lostMailboxRetry: options.lostMailboxRetry ?? DEFAULT_LOST_MAILBOX_RETRY,
      context: () => agent.context(),
      did: () => agent.identity.did,
      importIdentity: (bundle) => agent.importIdentity(bundle),
      emit: (progress) => agent.emit(progress),
      recordOutcomes: (effects, party) => audit.recordOutcomes(effects, party, agent.now()),
      logFailure: agent.logFailure,
    });
    // Whatever was in flight when the agent stopped (or was killed) goes out again now.
    agent.engine.resumeAll();
    agent.stopTicker = agent.clock.every(1000, () => agent.tick());
    return agent;
  }

  private useIdentity(secrets: Uint8Array): void {
    this.identitySecrets = Uint8Array.from(secrets);
    this.identity = Identity.fromSecrets({
      signingSeed: secrets.subarray(0, 32),
      agreementSecret: secrets.subarray(32, 64),
    });
  }

  /** Device mode: this machine becomes another device of the issuer's identity. */
  private async importIdentity(bundle: DeviceBundle): Promise<void> {
    const secrets = Buffer.concat([bundle.signingSeed, bundle.agreementSecret]);
    await this.options.keystore.set('identity', secrets);
    this.useIdentity(secrets);
    this.store.update((s) => ({ ...s, name: bundle.name }));
    this.card = issueCard(
      this.identity,
      bundle.name,
      this.options.relayUrl,
      this.store.state.createdAt,
    ).bytes;
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

  private context(): IssuerStepContext {
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
    this.audit?.minted(record, by, policy.uses, at);
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
      this.audit?.mintFailed(record, by, code, at);
      if (registration.status === 'fulfilled') this.engine.discard(record);
      await this.store.persist().catch(() => undefined);
      throw notSaved(reason, 'the invite was not made');
    }
    this.engine.listen(record);
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
    return this.engine.step(INVITES, this.findInvite(id), event).catch((error: unknown) => {
      throw notSaved(error, KEPT_UNSAVED);
    });
  }

  /**
   * Starts accepting an invite URL or code; resolves with the accept record once recorded. A link
   * runs on the relay it names; a code on `relayUrl` when given, else on the home relay. The
   * record keeps its relay, so a restart resumes there.
   */
  async startAccept(text: string, requireSas: boolean, relayUrl?: string): Promise<AcceptRecord> {
    const parsed = parseInviteText(text, this.now());
    let target: AcceptTarget;
    let relay: string;
    if (parsed.form === 'url') {
      const { invite } = parsed;
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
      const { code } = parsed;
      if (relayUrl !== undefined) this.refuseRelay(relayUrl);
      relay = relayUrl === undefined ? this.relays.homeUrl : relayKey(relayUrl);
      // Nameplates are per relay: only this relay's invites and accepts say anything about this one.
      const onRelay = <R extends InviteRecord | AcceptRecord>(records: readonly R[]) =>
        records.filter((r) => this.engine.relayOf(r) === relay);
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
    this.pairings.acceptStarted(record.id);
    this.engine.adopt(record, started.effects, saved);
    try {
      await saved;
    } catch (error) {
      // Not on disk, so nothing went to the issuer (the hello waits for the save): the accept is
      // forgotten again and answers the save's error, never to complete later behind the caller's
      // back. Its reply box, which may be open at the relay already, is deleted.
      this.store.update((s) => ({ ...s, accepts: s.accepts.filter((a) => a.id !== record.id) }));
      this.engine.discard(record);
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
    return this.engine.step(ACCEPTS, this.findAccept(id), event).catch((error: unknown) => {
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
      const unfollow = this.engine.follow(ACCEPTS, key, (record) => {
        latest = record;
      });
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        unfollow();
        resolve(latest);
      };
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
    this.audit?.unpaired(removed, event.at);
    // Waits first, so "unpaired" is told before what the invites report about it.
    const saved = this.store.persist();
    // In the same save: every invite minted before now refuses this peer from here on, and a
    // session still waiting for this peer's ack ends (a late ack announces nothing).
    for (const invite of this.store.state.invites)
      this.logFailure(this.engine.step(INVITES, invite, { type: 'peerRemoved', did }));
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

  private emit(progress: Omit<InviteProgress, 'at'>): void {
    const full: InviteProgress = { ...progress, at: new Date(this.now() * 1000).toISOString() };
    this.pairings.observe(full);
    for (const listener of this.listeners) listener(full);
  }

  /** The history, oldest first, and whether its chain is whole (`history.list`). */
  async history(
    since: string | undefined,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; integrity: AuditIntegrity }> {
    if (!this.audit) throw new PairlinkError('INTERNAL', 'history before the agent started');
    return this.audit.list(since, limit);
  }

  /** Once a second: a failed save again, the audit log's gap, finished records' secrets off the files, the machines due. */
  private tick(): void {
    this.engine.retrySaves();
    const now = this.now();
    this.audit?.recordLost(now);
    this.logFailure(this.store.wipeFinishedFromFiles(now));
    this.engine.tick(now);
  }

  /**
   * Stops timers and the relay connection once the last save and the queued effects are done.
   * Rejects, after stopping all the same, when the last save failed: changes answered DISK_FULL
   * are lost then, and nothing that was acknowledged.
   */
  async stop(): Promise<void> {
    // Nothing new starts from here (a relay in a loop of answers would otherwise keep the
    // effect queue from ever draining, and SIGTERM from ever ending the agent).
    this.engine.stop();
    this.stopTicker?.();
    let failure: unknown = null;
    await this.saveBeforeStop().catch((error: unknown) => {
      failure = error;
    });
    await this.engine.idle();
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
