import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { RelayClient, RelaySocket } from '../relay/relay-client.js';
import { crockfordSymbolsFromBits, writeCrockfordSymbols } from '../src/encoding/crockford.js';
import { toHex } from '../src/encoding/hex.js';
import { PairlinkError } from '../src/errors.js';
import {
  type AcceptorEvent,
  type AcceptTarget,
  startAcceptor,
  stepAcceptor,
} from '../src/handshake/acceptor.js';
import type { Effect, StepContext } from '../src/handshake/effects.js';
import { type IssuerEvent, type IssuerStepContext, stepIssuer } from '../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../src/handshake/mint.js';
import { issueCard, readVerifiedCard } from '../src/identity/card.js';
import { fingerprint, Identity } from '../src/identity/identity.js';
import {
  type InviteRequest,
  MAX_FAILED_CODE_ATTEMPTS,
  resolveInvitePolicy,
  SESSION_GRACE_SECONDS,
} from '../src/invite/invite-policy.js';
import { looksLikeInviteUrl, parseInviteUrl } from '../src/invite/invite-url.js';
import { parseShortCode } from '../src/invite/short-code.js';
import type { InviteProgress } from '../src/rpc/protocol.js';
import { EffectRunner } from './effect-runner.js';
import type { SecretStore } from './keystore/secret-store.js';
import type { AcceptRecord, AgentState, InviteRecord, PeerRecord } from './state/agent-state.js';
import { DurableState, isFinished } from './state/durable-state.js';
import { wipeFinishedAcceptor, wipeFinishedIssuer } from './state/wipe-finished.js';

export { FINISHED_RECORDS_KEPT, isFinished, pruneFinished } from './state/durable-state.js';

export interface AgentOptions {
  readonly stateFile: string;
  readonly keystore: SecretStore;
  readonly relayUrl: string;
  readonly name: string;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Defaults for invite.create when a caller leaves them out (config `invites`). */
  readonly inviteDefaults?: InviteDefaults | undefined;
}

/** Config-level invite defaults. */
export interface InviteDefaults {
  readonly format: 'url' | 'code';
  readonly urlTtlSeconds: number;
  readonly codeTtlSeconds: number;
}

/** Whose effects these are: an invite (with its mailbox read capability) or an accept. */
type EffectOwner =
  | { kind: 'invite'; id: string; readCapability: Uint8Array }
  | { kind: 'accept'; id: string };

const random = (n: number) => new Uint8Array(randomBytes(n));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** A short local id from the first 5 bytes of an id: 8 Crockford symbols. */
function shortId(bytes: Uint8Array): string {
  return writeCrockfordSymbols(crockfordSymbolsFromBits(bytes, 8));
}

/**
 * The agent: one identity, its pinned peers, and every invite and accept in flight. Each event
 * (a frame from the relay, an operator action, the clock) is one synchronous machine step on
 * the in-memory state; the step's effects run only after a save that includes it (group commit:
 * concurrent steps share one write), and every effect is idempotent, so a crash or restart at
 * any point loses nothing and repeats nothing harmful.
 */
export class Agent {
  private identity!: Identity;
  /** The identity's raw secrets, for device invites' bundles. */
  private identitySecrets!: Uint8Array;
  private card!: Uint8Array;
  private store!: DurableState;
  private readonly relay: RelayClient;
  private socket!: RelaySocket;
  private readonly listeners = new Set<(progress: InviteProgress) => void>();
  private effects!: EffectRunner;
  private ticker: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  readonly startedAt = new Date();
  relayConnected = false;

  private constructor(private readonly options: AgentOptions) {
    this.relay = new RelayClient(options.relayUrl);
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
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
    agent.store = await DurableState.load(options.stateFile, stateKey, () => ({
      version: 1,
      name: options.name,
      createdAt: agent.now(),
      peers: [],
      invites: [],
      accepts: [],
    }));
    agent.store.update((s) => ({ ...s, name: options.name }));
    agent.card = issueCard(agent.identity, options.name, options.relayUrl, agent.store.state.createdAt).bytes;
    await agent.store.persist();
    agent.socket = new RelaySocket(options.relayUrl, {
      onMessage: (mailbox, message) => agent.onRelayMessage(mailbox, message.seq, message.body),
      onConnectionChange: (connected) => {
        agent.relayConnected = connected;
        options.logger.info({ connected }, connected ? 'relay connected' : 'relay disconnected');
      },
    });
    for (const invite of agent.store.state.invites) {
      agent.socket.watch(invite.issuer.mailboxId, invite.readCapability, invite.afterSeq);
    }
    for (const accept of agent.store.state.accepts) {
      const box = accept.acceptor.replyBox;
      agent.socket.watch(box.mailboxId, box.readCapability, accept.afterSeq);
    }
    agent.effects = new EffectRunner({
      relay: agent.relay,
      socket: agent.socket,
      now: agent.now,
      logger: options.logger,
      emit: (progress) => agent.emit(progress),
      acceptReadCapability: (id) => agent.findAccept(id).acceptor.replyBox.readCapability,
      issuerMailboxGone: (id) => agent.stepAccept(agent.findAccept(id), { type: 'issuerMailboxGone' }),
    });
    agent.ticker = setInterval(() => agent.tick(), 1000);
    return agent;
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

  findInvite(id: string): InviteRecord {
    return this.store.findInvite(id);
  }

  findAccept(id: string): AcceptRecord {
    return this.store.findAccept(id);
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

  /** Mints an invite: registers its mailbox (and nameplate) at the relay, then records it. */
  async createInvite(params: InviteRequest & { label?: string | undefined }): Promise<InviteRecord> {
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
    const ttl = policy.ttlSeconds + SESSION_GRACE_SECONDS;
    let record: InviteRecord;
    if (policy.format === 'url') {
      const minted = mintUrlInvite(this.identity, policy, this.options.relayUrl, now, random);
      await this.relay.createMailbox(
        minted.invite.mailboxId,
        readCapability,
        minted.invite.writeCapability,
        ttl,
      );
      record = this.newInviteRecord(
        minted.issuer,
        readCapability,
        { url: minted.webUrl, customUrl: minted.customUrl },
        params.label,
      );
    } else {
      const mailboxId = random(16);
      await this.relay.createMailbox(mailboxId, readCapability, null, ttl);
      const maxClaims = Math.min(16, policy.uses + MAX_FAILED_CODE_ATTEMPTS);
      const { nameplate } = await this.relay.createNameplate(mailboxId, readCapability, maxClaims);
      const minted = mintCodeInvite(policy, nameplate, mailboxId, now, random);
      record = this.newInviteRecord(minted.issuer, readCapability, { code: minted.text }, params.label);
    }
    this.store.update((s) => ({ ...s, invites: [...s.invites, record] }));
    await this.store.persist();
    this.socket.watch(record.issuer.mailboxId, readCapability, 0);
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
      issuer,
      sas: {},
    };
  }

  /** Feeds an operator event to an invite's machine and waits until its result is saved. */
  async issuerEvent(id: string, event: IssuerEvent): Promise<InviteRecord> {
    await this.stepInvite(this.findInvite(id), event);
    return this.findInvite(id);
  }

  /** Starts accepting an invite URL or code; resolves with the accept record once recorded. */
  async startAccept(text: string, requireSas: boolean): Promise<AcceptRecord> {
    const trimmed = text.trim();
    let target: AcceptTarget;
    if (looksLikeInviteUrl(trimmed)) {
      const invite = parseInviteUrl(trimmed, this.now());
      if (invite.relayUrl !== this.options.relayUrl) {
        throw new PairlinkError(
          'INVALID_PARAMS',
          `this invite uses the relay ${invite.relayUrl}; this agent uses ${this.options.relayUrl}`,
        );
      }
      target = { form: 'url', invite };
    } else {
      const code = parseShortCode(trimmed);
      const claim = await this.relay.claimNameplate(code.nameplate);
      target = {
        form: 'code',
        code,
        issuerMailbox: { mailboxId: claim.mailboxId, writeCapability: claim.writeCap },
        expiresAt: Math.floor(claim.expiresAt / 1000) - SESSION_GRACE_SECONDS,
      };
    }
    const started = startAcceptor(target, requireSas, this.context());
    const record: AcceptRecord = {
      id: shortId(started.state.sessionId),
      createdAt: new Date(this.now() * 1000).toISOString(),
      afterSeq: 0,
      acceptor: started.state,
    };
    this.store.update((s) => ({ ...s, accepts: [...s.accepts, record] }));
    await this.store.persist();
    this.schedule(started.effects, { kind: 'accept', id: record.id });
    return record;
  }

  /** Feeds an operator event to an accept's machine and waits until its result is saved. */
  async acceptorEvent(id: string, event: AcceptorEvent): Promise<AcceptRecord> {
    await this.stepAccept(this.findAccept(id), event);
    return this.findAccept(id);
  }

  /** Resolves when the accept `id` is paired, failed or waiting for the SAS, or after `seconds`. */
  waitForAccept(id: string, seconds: number): Promise<AcceptRecord> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve(this.findAccept(id));
      };
      const unsubscribe = this.onProgress((p) => {
        if (p.id === id && (p.status === 'paired' || p.status === 'failed' || p.status === 'sas')) done();
      });
      const timer = setTimeout(done, seconds * 1000);
      if (isFinished(this.findAccept(id))) done();
    });
  }

  async removePeer(did: string): Promise<boolean> {
    const before = this.store.state.peers.length;
    this.store.update((s) => ({ ...s, peers: s.peers.filter((p) => p.did !== did) }));
    if (this.store.state.peers.length === before) return false;
    await this.store.persist();
    return true;
  }

  /** The peer record for `did`, with its card decoded. */
  peerCard(did: string) {
    const peer = this.store.state.peers.find((p) => p.did === did);
    if (!peer) throw new PairlinkError('PEER_NOT_FOUND', `no pinned peer ${did}`);
    return { peer, card: readVerifiedCard(peer.card) };
  }

  private onRelayMessage(mailbox: string, seq: number, frame: Uint8Array): void {
    const invite = this.store.state.invites.find((i) => b64(i.issuer.mailboxId) === mailbox);
    const accept = invite
      ? undefined
      : this.store.state.accepts.find((a) => b64(a.acceptor.replyBox.mailboxId) === mailbox);
    const stepped = invite
      ? seq > invite.afterSeq &&
        this.stepInvite({ ...invite, afterSeq: seq }, { type: 'frameReceived', frame })
      : accept &&
        seq > accept.afterSeq &&
        this.stepAccept({ ...accept, afterSeq: seq }, { type: 'frameReceived', frame });
    if (stepped)
      stepped.catch((error: Error) =>
        this.options.logger.error({ err: error.message }, 'saving a pairing step failed'),
      );
  }

  /** One issuer step: applied now, saved (with whatever else is pending), then its effects run. */
  private async stepInvite(record: InviteRecord, event: IssuerEvent): Promise<void> {
    const current = this.findInvite(record.id);
    const { state: stepped, effects } = stepIssuer(current.issuer, event, this.context());
    const state = wipeFinishedIssuer(stepped);
    if (state === current.issuer && record.afterSeq === current.afterSeq && effects.length === 0) return;
    let sas = current.sas;
    for (const effect of effects)
      if (effect.type === 'sasReady') sas = { ...sas, [toHex(effect.sessionId)]: effect.sas };
    this.store.replaceInvite({
      ...current,
      afterSeq: Math.max(current.afterSeq, record.afterSeq),
      issuer: state,
      sas,
    });
    this.applyPins(effects);
    await this.store.persist();
    this.schedule(effects, { kind: 'invite', id: record.id, readCapability: current.readCapability });
  }

  /** One acceptor step, likewise. */
  private async stepAccept(record: AcceptRecord, event: AcceptorEvent): Promise<void> {
    const current = this.findAccept(record.id);
    const { state: stepped, effects } = stepAcceptor(current.acceptor, event, this.context());
    const state = wipeFinishedAcceptor(stepped);
    if (state === current.acceptor && record.afterSeq === current.afterSeq && effects.length === 0) return;
    const sasEffect = effects.find((e): e is Extract<Effect, { type: 'sasReady' }> => e.type === 'sasReady');
    this.store.replaceAccept({
      ...current,
      afterSeq: Math.max(current.afterSeq, record.afterSeq),
      acceptor: state,
      ...(sasEffect ? { sas: sasEffect.sas } : {}),
    });
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
    await this.store.persist();
    this.schedule(effects, { kind: 'accept', id: record.id });
  }

  /** Records pins in the state, in the same save as the step, so a pairing is recorded whole or not at all. */
  private applyPins(effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.type !== 'pin' || effect.peer.did === this.identity.did) continue;
      const peer: PeerRecord = {
        did: effect.peer.did,
        name: effect.peer.name,
        card: effect.peer.bytes,
        pairedAt: new Date(this.now() * 1000).toISOString(),
        relayUrl: effect.peer.relayUrl,
        relation: effect.mode,
      };
      this.store.update((s) => ({ ...s, peers: [...s.peers.filter((p) => p.did !== peer.did), peer] }));
    }
  }

  /** Queues effects behind the owner's earlier ones; they run now that their state is saved. */
  private schedule(effects: readonly Effect[], owner: EffectOwner): void {
    this.effects.schedule(effects, owner);
  }

  private emit(progress: Omit<InviteProgress, 'at'>): void {
    const full: InviteProgress = { ...progress, at: new Date().toISOString() };
    for (const listener of this.listeners) listener(full);
  }

  private tick(): void {
    const fail = (error: Error) => this.options.logger.warn({ err: error.message }, 'clock step failed');
    for (const invite of this.store.state.invites)
      this.stepInvite(invite, { type: 'clockTicked' }).catch(fail);
    for (const accept of this.store.state.accepts)
      this.stepAccept(accept, { type: 'clockTicked' }).catch(fail);
  }

  /** Stops timers and the relay socket once the last save and the queued effects are done. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await this.store.persist();
    await this.effects.idle();
    await this.store.close();
    this.socket.close();
    this.relay.close();
  }
}
