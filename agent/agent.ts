import { pooledRandom } from '../io/random-pool.js';
import { PairlinkError } from '../src/errors.js';
import { type AcceptorEvent, startAcceptor } from '../src/handshake/acceptor.js';
import type { DeviceBundle } from '../src/handshake/device-bundle.js';
import type { IssuerEvent } from '../src/handshake/issuer.js';
import { readVerifiedCard } from '../src/identity/card.js';
import { fingerprint } from '../src/identity/identity.js';
import { checkRelayUrl, DEFAULT_RELAY_SETTINGS } from '../src/invite/relay-policy.js';
import type { AuditEntry, AuditIntegrity, InviteProgress, PeerRemoved } from '../src/rpc/protocol.js';
import { resolveAcceptTarget } from './accept-target.js';
import { AgentEvents } from './agent-events.js';
import { AgentIdentity } from './agent-identity.js';
import { AgentInbox } from './agent-inbox.js';
import type { AgentOptions } from './agent-options.js';
import { openAgentStore } from './agent-store.js';
import type { AuditTrail } from './audit-trail.js';
import {
  KEPT_UNSAVED,
  notSaved,
  type SaveFailureLog,
  saveBeforeStop,
  saveFailureLog,
} from './failed-saves.js';
import { announceMove } from './inbox-move.js';
import { createPolicy, type InviteCreateRequest, mintInvite } from './invite-minting.js';
import { DEFAULT_LOST_MAILBOX_RETRY } from './lost-mailboxes.js';
import type { NoticeOutbox } from './notice-outbox.js';
import { OwnRotation } from './own-rotation.js';
import { PairingLog } from './pairing-log.js';
import { type PeerLifecycle, startNotices, type Unpaired } from './peer-lifecycle.js';
import { isRetired } from './peer-rotation.js';
import { ACCEPTS, INVITES, shortId } from './record-kinds.js';
import { RelayPool, type RelayUse } from './relay-pool.js';
import { type AgentClock, systemClock } from './relay-transport.js';
import { reportConnection, warnRelayTrouble } from './relay-trouble.js';
import { RepeatedWarnings } from './repeated-warnings.js';
import type { AcceptRecord, AgentState, InviteRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';
import { StepEngine } from './step-engine.js';

export type { AgentOptions } from './agent-options.js';
export type { InviteDefaults } from './invite-minting.js';
export type { LostMailboxRetry } from './lost-mailboxes.js';
export { FINISHED_RECORDS_KEPT, isFinished, pruneFinished } from './state/durable-state.js';

const random = pooledRandom();

/**
 * The agent: one identity, its pinned peers, and every invite and accept in flight. This class
 * holds the lifecycle (start, stop), the identity and the operator API; every event of an invite
 * or accept is a machine step of the step engine (step-engine.ts), whose effects run only after
 * a save that includes it. Effects that fail are fed back to the machine, and after a restart
 * every unfinished machine is told `resumed`, so a crash or a relay outage at any point loses
 * nothing and ends every pairing on both sides or neither.
 */
export class Agent {
  private self!: AgentIdentity;
  private store!: DurableState;
  private relays!: RelayPool;
  private inbox!: AgentInbox;
  private outbox!: NoticeOutbox;
  private lifecycle!: PeerLifecycle;
  /** This identity's rotations and device revocations (own-rotation.ts). */
  rotation!: OwnRotation;
  private stopTicker: (() => void) | null = null;
  private readonly clock: AgentClock;
  readonly startedAt = new Date();
  relayConnected = false;
  private audit: AuditTrail | null = null;
  private readonly warnings: RepeatedWarnings;
  /** What the agent tells listeners (`peer.rotated` is subscribed to here directly). */
  readonly events: AgentEvents;
  /** Every invite's and accept's machine, stepped and saved (step-engine.ts). */
  private engine!: StepEngine;
  private readonly logFailure: SaveFailureLog;

  private constructor(private readonly options: AgentOptions) {
    this.clock = options.clock ?? systemClock;
    this.events = new AgentEvents(new PairingLog(options.logger), () => this.now());
    this.warnings = new RepeatedWarnings(options.logger);
    this.logFailure = saveFailureLog(options.logger, this.warnings);
  }

  private now(): number {
    return this.clock.now();
  }

  /** Opens the keystore's identity (creating one on first start), loads state, connects. */
  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    agent.self = await AgentIdentity.open(options.keystore, random);
    const { store: opened, audit } = await openAgentStore({
      ...options,
      warnings: agent.warnings,
      logFailure: agent.logFailure,
      random,
      now: () => agent.now(),
    });
    agent.store = opened;
    agent.audit = audit;
    agent.self.issueCard(options.name, options.relayUrl, agent.store.state.createdAt);
    agent.relays = new RelayPool(
      options.relayUrl,
      options.transport,
      {
        // The inbox's own first; every other mailbox is a record's.
        onMessage: (relay, mailbox, seq, body) =>
          agent.inbox.onMessage(relay, mailbox, seq, body) ||
          agent.engine.onRelayMessage(relay, mailbox, seq, body),
        onMailboxGone: (relay, mailbox) =>
          agent.inbox.onGone(relay, mailbox) || agent.engine.onMailboxGone(relay, mailbox),
        onConnectionChange: (relay, connected) => {
          const home = relay === agent.relays.homeUrl;
          if (home) agent.relayConnected = connected;
          reportConnection(agent.warnings, relay, home, connected);
        },
        onTrouble: (relay, error) => warnRelayTrouble(agent.warnings, relay, error),
      },
      options.relayLimit,
    );
    const { store, relays, warnings, logFailure, clock, events } = agent;
    const shared = { store, relays, warnings, logFailure, logger: options.logger };
    const common = { ...shared, clock, random, audit: () => audit };
    const stepInvites = (event: IssuerEvent) => {
      for (const invite of store.state.invites) logFailure(agent.engine.step(INVITES, invite, event));
    };
    const notices = startNotices({
      ...common,
      events,
      identity: () => agent.self.identity,
      previousIdentity: () => agent.self.previousIdentity,
      refuseRelay: (url) => agent.refuseRelay(url),
      refuseInInvites: (did) => stepInvites({ type: 'peerRemoved', did }),
    });
    ({ outbox: agent.outbox, lifecycle: agent.lifecycle } = notices);
    agent.rotation = new OwnRotation({
      ...common,
      self: agent.self,
      outbox: agent.outbox,
      relayUrl: options.relayUrl,
      cancelInvites: () => stepInvites({ type: 'cancelRequested' }),
    });
    agent.inbox = new AgentInbox({
      ...shared,
      relayUrl: options.relayUrl,
      identity: agent.self,
      random,
      clock,
      read: (state, body) => notices.reader.read(state, body),
      moved: (state, inbox) =>
        announceMove({ outbox: notices.outbox, random, logger: options.logger }, state, inbox),
      sendQueued: () => notices.outbox.tick(clock.now()),
    });
    agent.engine = new StepEngine({
      ...shared,
      now: () => agent.now(),
      startedAt: agent.startedAt,
      lostMailboxRetry: options.lostMailboxRetry ?? DEFAULT_LOST_MAILBOX_RETRY,
      context: (record) => agent.inbox.context(record, agent.stepContext()),
      handedInbox: () => agent.inbox.kick(),
      did: () => agent.did,
      importIdentity: (bundle) => agent.importIdentity(bundle),
      emit: (progress) => agent.events.progress(progress),
      recordOutcomes: (effects, party) => audit.recordOutcomes(effects, party, agent.now()),
    });
    await agent.rotation.finishAtStart();
    // Whatever was in flight when the agent stopped (or was killed) goes out again now.
    agent.engine.resumeAll();
    agent.inbox.kick();
    agent.stopTicker = agent.clock.every(1000, () => agent.tick());
    return agent;
  }

  /** What a machine step needs of this agent now: its identity, and the keys rotations retired. */
  private stepContext() {
    const retiredKey = (did: string) => isRetired(this.store.state, did);
    return { ...this.self.context(this.now(), () => this.name, random), retiredKey };
  }

  /** Device mode: this machine becomes another device of the issuer's identity. */
  private async importIdentity(bundle: DeviceBundle): Promise<void> {
    await this.self.import(bundle);
    this.store.update((s) => ({ ...s, name: bundle.name }));
    this.self.issueCard(bundle.name, this.options.relayUrl, this.store.state.createdAt);
  }

  get did(): string {
    return this.self.identity.did;
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
    return fingerprint(this.self.identity.signing.publicKey);
  }
  get cardBytes(): Uint8Array {
    return this.self.card;
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

  /** Receives every `peer.removed` notification. */
  onPeerRemoved(listener: (removed: PeerRemoved) => void): () => void {
    return this.events.onPeerRemoved(listener);
  }

  /** Receives every `invite.progress` notification. */
  onProgress(listener: (progress: InviteProgress) => void): () => void {
    return this.events.onProgress(listener);
  }

  /** Mints an invite: registers its mailbox (and nameplate) at the relay, then records it. */
  async createInvite(params: InviteCreateRequest): Promise<InviteRecord> {
    const policy = createPolicy(params, this.options.inviteDefaults);
    const now = this.now();
    const { record, registered } = await mintInvite(policy, params, {
      identity: this.self.identity,
      relay: this.relays.home,
      relayUrl: this.options.relayUrl,
      homeKey: this.relays.homeUrl,
      now: () => this.now(),
      random,
    });
    this.store.update((s) => ({ ...s, invites: [...s.invites, record] }));
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
      this.store.update((s) => ({ ...s, invites: s.invites.filter((i) => i.id !== record.id) }));
      this.audit?.mintFailed(record, by, code, at);
      if (registration.status === 'fulfilled') this.engine.discard(record);
      await this.store.persist().catch(() => undefined);
      throw notSaved(reason, 'the invite was not made');
    }
    this.engine.listen(record);
    this.events.progress({ id: record.id, role: 'issuer', status: 'published' });
    return record;
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
    const { target, relay } = await resolveAcceptTarget(text, relayUrl, this.now(), {
      relays: this.relays,
      refuseRelay: (url) => this.refuseRelay(url),
      relayOf: (record) => this.engine.relayOf(record),
      invites: () => this.store.state.invites,
      accepts: () => this.store.allAccepts,
    });
    const started = startAcceptor(target, requireSas, this.stepContext());
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
    this.events.acceptStarted(record.id);
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

  /** Resolves when the accept `id` is paired, failed or waiting for the SAS, or after `seconds` (AgentEvents). */
  waitForAccept(id: string, seconds: number): Promise<AcceptRecord> {
    const accept = this.findAccept(id);
    return this.events.waitForAccept(accept, seconds, (each) => this.engine.follow(ACCEPTS, accept.id, each));
  }

  /**
   * Unpairs `did` and tells it with an unpair notice when it has an inbox and not `localOnly`
   * (peer-lifecycle.ts); `removed` false when no such peer is pinned.
   */
  removePeer(did: string, localOnly = false): Promise<Unpaired> {
    return this.lifecycle.remove(did, localOnly);
  }

  /** Pings `did`: whether its pong came within `waitSeconds`, and the round trip (peer-lifecycle.ts). */
  pingPeer(did: string, waitSeconds: number): Promise<{ reachable: boolean; rttMs?: number }> {
    return this.lifecycle.ping(did, waitSeconds);
  }

  /** The peer record for `did`, with its card decoded. */
  peerCard(did: string) {
    const peer = this.store.state.peers.find((p) => p.did === did);
    if (!peer) throw new PairlinkError('PEER_NOT_FOUND', `no pinned peer ${did}`);
    return { peer, card: readVerifiedCard(peer.card) };
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
    this.inbox.tick(now);
    this.outbox.tick(now);
    this.logFailure(this.self.forgetPrevious(now));
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
    await saveBeforeStop(() => this.store.persist(), this.options.logger).catch((error: unknown) => {
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
}
