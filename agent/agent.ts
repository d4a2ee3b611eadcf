import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { RelayClient, RelaySocket } from '../relay/relay-client.js';
import { writeCrockfordSymbols } from '../src/encoding/crockford.js';
import { toHex } from '../src/encoding/hex.js';
import { PairlinkError } from '../src/errors.js';
import { type AcceptTarget, startAcceptor, stepAcceptor } from '../src/handshake/acceptor.js';
import type { Effect, StepContext } from '../src/handshake/effects.js';
import { type IssuerEvent, type IssuerStepContext, stepIssuer } from '../src/handshake/issuer.js';
import { mintCodeInvite, mintUrlInvite } from '../src/handshake/mint.js';
import { issueCard, readVerifiedCard } from '../src/identity/card.js';
import { fingerprint, Identity } from '../src/identity/identity.js';
import {
  MAX_FAILED_CODE_ATTEMPTS,
  resolveInvitePolicy,
  SESSION_GRACE_SECONDS,
} from '../src/invite/invite-policy.js';
import { looksLikeInviteUrl, parseInviteUrl } from '../src/invite/invite-url.js';
import { parseShortCode } from '../src/invite/short-code.js';
import type { InviteProgress } from '../src/rpc/protocol.js';
import type { SecretStore } from './keystore/secret-store.js';
import type {
  AcceptRecord,
  AgentHistory,
  AgentState,
  InviteRecord,
  PeerRecord,
} from './state/agent-state.js';
import { StateFile } from './state/state-file.js';
import { wipeFinishedAcceptor, wipeFinishedIssuer } from './state/wipe-finished.js';

export interface AgentOptions {
  readonly stateFile: string;
  readonly keystore: SecretStore;
  readonly relayUrl: string;
  readonly name: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

const random = (n: number) => new Uint8Array(randomBytes(n));

/** Whose effects these are: an invite (with its mailbox read capability) or an accept. */
type EffectOwner =
  | { kind: 'invite'; id: string; readCapability: Uint8Array }
  | { kind: 'accept'; id: string };
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
/** A short local id from the first 5 bytes of an id: 8 Crockford symbols. */
const shortId = (bytes: Uint8Array) =>
  writeCrockfordSymbols(
    Array.from({ length: 8 }, (_, i) =>
      Number((BigInt(`0x${toHex(bytes.subarray(0, 5))}`) >> BigInt(35 - 5 * i)) & 31n),
    ),
  );

/**
 * The agent: one identity, its pinned peers, and every invite and accept in flight. Each event
 * (a frame from the relay, an operator action, the clock) runs one machine step under a lock;
 * the new state is persisted before its effects are performed, and every effect is idempotent,
 * so a crash or restart at any point loses nothing and repeats nothing harmful.
 */
export class Agent {
  private identity!: Identity;
  private card!: Uint8Array;
  private state!: AgentState;
  private history: AgentHistory = { invites: [], accepts: [] };
  private readonly relay: RelayClient;
  private socket!: RelaySocket;
  private readonly listeners = new Set<(progress: InviteProgress) => void>();
  private lock: Promise<unknown> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  readonly startedAt = new Date();
  relayConnected = false;

  private constructor(
    private readonly options: AgentOptions,
    private readonly file: StateFile<AgentState>,
    private readonly historyFile: StateFile<AgentHistory>,
  ) {
    this.relay = new RelayClient(options.relayUrl);
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Opens the keystore's identity (creating one on first start), loads state, connects. */
  static async start(options: AgentOptions): Promise<Agent> {
    const store = options.keystore;
    let stateKey = await store.get('state-key');
    if (!stateKey) {
      stateKey = random(32);
      await store.set('state-key', stateKey);
    }
    const agent = new Agent(
      options,
      new StateFile<AgentState>(options.stateFile, stateKey),
      new StateFile<AgentHistory>(join(dirname(options.stateFile), 'history.json'), stateKey),
    );
    agent.history = (await agent.historyFile.load()) ?? { invites: [], accepts: [] };
    const secrets = await store.get('identity');
    if (secrets) {
      agent.identity = Identity.fromSecrets({
        signingSeed: secrets.subarray(0, 32),
        agreementSecret: secrets.subarray(32, 64),
      });
    } else {
      const fresh = Identity.generate(random);
      await store.set('identity', Buffer.concat([fresh.secrets.signingSeed, fresh.secrets.agreementSecret]));
      agent.identity = fresh.identity;
    }
    agent.state = (await agent.file.load()) ?? {
      version: 1,
      name: options.name,
      createdAt: agent.now(),
      peers: [],
      invites: [],
      accepts: [],
    };
    if (agent.state.name !== options.name) agent.state = { ...agent.state, name: options.name };
    agent.card = issueCard(agent.identity, agent.state.name, options.relayUrl, agent.state.createdAt).bytes;
    await agent.commit();
    agent.socket = new RelaySocket(options.relayUrl, {
      onMessage: (mailbox, message) => void agent.onRelayMessage(mailbox, message.seq, message.body),
      onConnectionChange: (connected) => {
        agent.relayConnected = connected;
        options.logger.info({ connected }, connected ? 'relay connected' : 'relay disconnected');
      },
    });
    for (const invite of agent.state.invites) {
      if (invite.issuer.status === 'pending')
        agent.socket.watch(invite.issuer.mailboxId, invite.readCapability, invite.afterSeq);
    }
    for (const accept of agent.state.accepts) {
      if (!isFinished(accept))
        agent.socket.watch(
          accept.acceptor.replyBox.mailboxId,
          accept.acceptor.replyBox.readCapability,
          accept.afterSeq,
        );
    }
    agent.ticker = setInterval(() => void agent.tick(), 1000);
    return agent;
  }

  get did(): string {
    return this.identity.did;
  }

  get name(): string {
    return this.state.name;
  }

  get keystoreKind(): 'keychain' | 'file' {
    return this.options.keystore.kind;
  }

  get relayUrl(): string {
    return this.options.relayUrl;
  }

  get snapshot(): AgentState {
    return this.state;
  }

  /** Every invite known: pending ones first, then finished ones from the history. */
  get allInvites(): readonly InviteRecord[] {
    return [...this.state.invites, ...this.history.invites];
  }

  /**
   * Persists the state. Records that finished move to the history first (history written before
   * the state drops them, so a crash in between only leaves a duplicate, which load resolves).
   */
  private async commit(): Promise<void> {
    const finishedInvites = this.state.invites.filter((i) => i.issuer.status !== 'pending');
    const finishedAccepts = this.state.accepts.filter(isFinished);
    if (finishedInvites.length > 0 || finishedAccepts.length > 0) {
      const movedInvites = new Set(finishedInvites.map((i) => i.id));
      const movedAccepts = new Set(finishedAccepts.map((a) => a.id));
      this.history = pruneFinished({
        invites: [...this.history.invites.filter((i) => !movedInvites.has(i.id)), ...finishedInvites],
        accepts: [...this.history.accepts.filter((a) => !movedAccepts.has(a.id)), ...finishedAccepts],
      });
      await this.historyFile.save(this.history);
      this.state = {
        ...this.state,
        invites: this.state.invites.filter((i) => !movedInvites.has(i.id)),
        accepts: this.state.accepts.filter((a) => !movedAccepts.has(a.id)),
      };
    }
    await this.file.save(this.state);
  }

  get fingerprint(): string {
    return fingerprint(this.identity.signing.publicKey);
  }

  get cardBytes(): Uint8Array {
    return this.card;
  }

  /** Receives every `invite.progress` notification. */
  onProgress(listener: (progress: InviteProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `fn` with exclusive access to the state (one machine step at a time). Effects the step
   * deferred run after the lock is released: the state that caused them is already on disk, and
   * relay I/O then never holds up other pairings' steps.
   */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    const result = await run;
    this.flushDeferred();
    return result;
  }

  private readonly deferred: { effects: readonly Effect[]; owner: EffectOwner }[] = [];
  /** One chain per invite or accept, so each one's effects keep their order. */
  private readonly effectChains = new Map<string, Promise<void>>();

  private defer(effects: readonly Effect[], owner: EffectOwner): void {
    if (effects.length > 0) this.deferred.push({ effects, owner });
  }

  private flushDeferred(): void {
    for (const { effects, owner } of this.deferred.splice(0)) {
      const key = `${owner.kind}:${owner.id}`;
      const chain = (this.effectChains.get(key) ?? Promise.resolve()).then(() =>
        this.perform(effects, owner),
      );
      const tracked = chain.finally(() => {
        if (this.effectChains.get(key) === tracked) this.effectChains.delete(key);
      });
      this.effectChains.set(key, tracked);
    }
  }

  private context(): IssuerStepContext & StepContext {
    return {
      identity: this.identity,
      card: this.card,
      now: this.now(),
      random,
      deviceBundle: () => this.deviceBundle(),
    };
  }

  private deviceBundle(): { signingSeed: Uint8Array; agreementSecret: Uint8Array; name: string } {
    const secrets = this.pendingDeviceSecrets;
    if (!secrets) throw new Error('device bundle requested without identity secrets loaded');
    return {
      signingSeed: secrets.subarray(0, 32),
      agreementSecret: secrets.subarray(32, 64),
      name: this.state.name,
    };
  }

  private pendingDeviceSecrets: Uint8Array | null = null;

  /** Mints an invite: registers its mailbox (and nameplate) at the relay, then records it. */
  async createInvite(params: {
    ttlSeconds?: number;
    uses?: number;
    format?: 'url' | 'code';
    mode?: 'peer' | 'device';
    label?: string;
    requireSas?: boolean;
  }): Promise<InviteRecord> {
    const policy = resolveInvitePolicy(params);
    // Relay calls happen before taking the state lock, so other pairings are not held up by them.
    const now = this.now();
    const readCapability = random(16);
    let record: InviteRecord;
    if (policy.format === 'url') {
      const minted = mintUrlInvite(this.identity, policy, this.options.relayUrl, now, random);
      await this.relay.createMailbox(
        minted.invite.mailboxId,
        readCapability,
        minted.invite.writeCapability,
        policy.ttlSeconds + SESSION_GRACE_SECONDS,
      );
      record = this.newInviteRecord(
        minted.issuer,
        readCapability,
        { url: minted.webUrl, customUrl: minted.customUrl },
        params.label,
      );
    } else {
      const mailboxId = random(16);
      await this.relay.createMailbox(
        mailboxId,
        readCapability,
        null,
        policy.ttlSeconds + SESSION_GRACE_SECONDS,
      );
      const { nameplate } = await this.relay.createNameplate(
        mailboxId,
        readCapability,
        Math.min(16, policy.uses + MAX_FAILED_CODE_ATTEMPTS),
      );
      const minted = mintCodeInvite(policy, nameplate, mailboxId, now, random);
      record = this.newInviteRecord(minted.issuer, readCapability, { code: minted.text }, params.label);
    }
    return this.exclusive(async () => {
      this.state = { ...this.state, invites: [...this.state.invites, record] };
      await this.commit();
      this.socket.watch(record.issuer.mailboxId, readCapability, 0);
      this.emit({ id: record.id, role: 'issuer', status: 'published' });
      return record;
    });
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

  findInvite(id: string): InviteRecord {
    const key = id.toUpperCase();
    const invite =
      this.state.invites.find((i) => i.id === key) ?? this.history.invites.find((i) => i.id === key);
    if (!invite) throw new PairlinkError('INVITE_NOT_FOUND', `no invite with id ${id}`);
    return invite;
  }

  /** Feeds an operator or clock event to an invite's machine. */
  issuerEvent(id: string, event: IssuerEvent): Promise<InviteRecord> {
    return this.exclusive(async () => {
      const record = this.findInvite(id);
      await this.stepInvite(record, event);
      return this.findInvite(id);
    });
  }

  /** Starts accepting an invite URL or code; resolves with the accept record once started. */
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
    return this.exclusive(async () => {
      const started = startAcceptor(target, requireSas, this.context());
      const record: AcceptRecord = {
        id: shortId(started.state.sessionId),
        createdAt: new Date(this.now() * 1000).toISOString(),
        afterSeq: 0,
        acceptor: started.state,
      };
      this.state = { ...this.state, accepts: [...this.state.accepts, record] };
      await this.commit();
      this.defer(started.effects, { kind: 'accept', id: record.id });
      return record;
    });
  }

  findAccept(id: string): AcceptRecord {
    const key = id.toUpperCase();
    const accept =
      this.state.accepts.find((a) => a.id === key) ?? this.history.accepts.find((a) => a.id === key);
    if (!accept) throw new PairlinkError('INVITE_NOT_FOUND', `no accept with id ${id}`);
    return accept;
  }

  acceptorEvent(
    id: string,
    event: { type: 'sasConfirmed' } | { type: 'sasRejected' },
  ): Promise<AcceptRecord> {
    return this.exclusive(async () => {
      await this.stepAccept(this.findAccept(id), event);
      return this.findAccept(id);
    });
  }

  /** Resolves when the accept `id` is paired or failed, or after `seconds`. */
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

  removePeer(did: string): Promise<boolean> {
    return this.exclusive(async () => {
      const before = this.state.peers.length;
      this.state = { ...this.state, peers: this.state.peers.filter((p) => p.did !== did) };
      if (this.state.peers.length === before) return false;
      await this.commit();
      return true;
    });
  }

  private async onRelayMessage(mailbox: string, seq: number, frame: Uint8Array): Promise<void> {
    await this.exclusive(async () => {
      const invite = this.state.invites.find((i) => b64(i.issuer.mailboxId) === mailbox);
      if (invite) {
        if (seq > invite.afterSeq)
          await this.stepInvite({ ...invite, afterSeq: seq }, { type: 'frameReceived', frame });
        return;
      }
      const accept = this.state.accepts.find((a) => b64(a.acceptor.replyBox.mailboxId) === mailbox);
      if (accept && seq > accept.afterSeq)
        await this.stepAccept({ ...accept, afterSeq: seq }, { type: 'frameReceived', frame });
    }).catch((error: Error) =>
      this.options.logger.error({ err: error.message }, 'processing a relay message failed'),
    );
  }

  private async stepInvite(record: InviteRecord, event: IssuerEvent): Promise<void> {
    const needsBundle =
      record.mode === 'device' && (event.type === 'sasConfirmed' || event.type === 'frameReceived');
    this.pendingDeviceSecrets = needsBundle ? await this.options.keystore.get('identity') : null;
    const stepped = stepIssuer(record.issuer, event, this.context());
    const effects = stepped.effects;
    const state = wipeFinishedIssuer(stepped.state);
    this.pendingDeviceSecrets = null;
    let sas = record.sas;
    for (const effect of effects)
      if (effect.type === 'sasReady') sas = { ...sas, [toHex(effect.sessionId)]: effect.sas };
    const next: InviteRecord = { ...record, issuer: state, sas };
    if (
      state === this.findInvite(record.id).issuer &&
      next.afterSeq === this.findInvite(record.id).afterSeq &&
      effects.length === 0
    )
      return;
    this.state = { ...this.state, invites: this.state.invites.map((i) => (i.id === record.id ? next : i)) };
    this.applyPins(effects, record.mode);
    await this.commit();
    this.defer(effects, { kind: 'invite', id: record.id, readCapability: record.readCapability });
  }

  private async stepAccept(record: AcceptRecord, event: Parameters<typeof stepAcceptor>[1]): Promise<void> {
    const stepped = stepAcceptor(record.acceptor, event, this.context());
    const effects = stepped.effects;
    const state = wipeFinishedAcceptor(stepped.state);
    const sasEffect = effects.find((e): e is Extract<Effect, { type: 'sasReady' }> => e.type === 'sasReady');
    const next: AcceptRecord = { ...record, acceptor: state, ...(sasEffect ? { sas: sasEffect.sas } : {}) };
    const current = this.findAccept(record.id);
    if (state === current.acceptor && next.afterSeq === current.afterSeq && effects.length === 0) return;
    this.state = { ...this.state, accepts: this.state.accepts.map((a) => (a.id === record.id ? next : a)) };
    this.applyPins(effects, state.mode ?? 'peer');
    const imported = effects.find(
      (e): e is Extract<Effect, { type: 'importIdentity' }> => e.type === 'importIdentity',
    );
    if (imported) {
      // Device mode: this machine becomes another device of the issuer's identity.
      await this.options.keystore.set(
        'identity',
        Buffer.concat([imported.bundle.signingSeed, imported.bundle.agreementSecret]),
      );
      this.identity = Identity.fromSecrets(imported.bundle);
      this.state = { ...this.state, name: imported.bundle.name };
      this.card = issueCard(
        this.identity,
        this.state.name,
        this.options.relayUrl,
        this.state.createdAt,
      ).bytes;
    }
    await this.commit();
    this.defer(effects, { kind: 'accept', id: record.id });
  }

  /** Records pins in the state (persisted with the step, so a pairing is recorded whole or not at all). */
  private applyPins(effects: readonly Effect[], relation: 'peer' | 'device'): void {
    for (const effect of effects) {
      if (effect.type !== 'pin') continue;
      if (effect.mode === 'device' && relation === 'device' && effect.peer.did === this.identity.did)
        continue;
      const peer: PeerRecord = {
        did: effect.peer.did,
        name: effect.peer.name,
        card: effect.peer.bytes,
        pairedAt: new Date(this.now() * 1000).toISOString(),
        relayUrl: effect.peer.relayUrl,
        relation: effect.mode,
      };
      this.state = { ...this.state, peers: [...this.state.peers.filter((p) => p.did !== peer.did), peer] };
    }
  }

  /** Performs effects after the state that caused them is safely on disk. */
  private async perform(effects: readonly Effect[], owner: EffectOwner): Promise<void> {
    for (const effect of effects) {
      try {
        switch (effect.type) {
          case 'openMailbox':
            await this.relay.createMailbox(
              effect.mailbox.mailboxId,
              effect.mailbox.readCapability,
              effect.mailbox.writeCapability,
              Math.max(60, effect.expiresAt - this.now()),
            );
            this.socket.watch(effect.mailbox.mailboxId, effect.mailbox.readCapability, 0);
            break;
          case 'send':
            try {
              await this.send(effect.to.mailboxId, effect.to.writeCapability, effect.frame);
            } catch (error) {
              // The issuer's mailbox is gone: tell the acceptor machine now instead of timing out.
              if (owner.kind === 'accept' && (error as PairlinkError).code === 'INVITE_NOT_FOUND') {
                await this.exclusive(() =>
                  this.stepAccept(this.findAccept(owner.id), { type: 'issuerMailboxGone' }),
                );
                return;
              }
              throw error;
            }
            break;
          case 'closeMailbox': {
            this.socket.unwatch(effect.mailboxId);
            const readCap =
              owner.kind === 'invite'
                ? owner.readCapability
                : this.findAccept(owner.id).acceptor.replyBox.readCapability;
            await this.relay.deleteMailbox(effect.mailboxId, readCap).catch(() => undefined);
            break;
          }
          case 'progress':
            this.emit({
              id: owner.id,
              role: owner.kind === 'invite' ? 'issuer' : 'acceptor',
              status: effect.status,
              ...(effect.sessionId ? { sessionId: toHex(effect.sessionId) } : {}),
              ...(effect.peer ? { peer: { did: effect.peer.did, name: effect.peer.name } } : {}),
              ...(effect.code ? { error: { code: effect.code, message: effect.code } } : {}),
            });
            break;
          default:
            break; // pin, sasReady and importIdentity were applied to the state before persisting
        }
      } catch (error) {
        this.options.logger.warn(
          { effect: effect.type, err: (error as Error).message },
          'effect failed; the machine will retry or time out',
        );
      }
    }
  }

  /** Posts a frame, over the socket when connected, else over HTTP; one retry after a pause. */
  private async send(mailboxId: Uint8Array, writeCap: Uint8Array, frame: Uint8Array): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.socket.connected) await this.socket.post(mailboxId, writeCap, frame);
        else await this.relay.post(mailboxId, writeCap, frame);
        return;
      } catch (error) {
        if (attempt >= 1 || (error as PairlinkError).code === 'INVITE_NOT_FOUND') throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private emit(progress: Omit<InviteProgress, 'at'>): void {
    const full: InviteProgress = { ...progress, at: new Date().toISOString() };
    for (const listener of this.listeners) listener(full);
  }

  private async tick(): Promise<void> {
    for (const invite of this.state.invites) {
      if (invite.issuer.status === 'pending')
        await this.issuerEvent(invite.id, { type: 'clockTicked' }).catch(() => undefined);
    }
    for (const accept of this.state.accepts) {
      if (!isFinished(accept)) {
        await this.exclusive(() =>
          this.stepAccept(this.findAccept(accept.id), { type: 'clockTicked' }),
        ).catch(() => undefined);
      }
    }
  }

  /** Stops timers and the relay socket after the last state write has finished. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await this.exclusive(async () => undefined);
    await Promise.allSettled([...this.effectChains.values()]);
    this.socket.close();
    this.relay.close();
  }

  /** The peer record for `did`, with its card decoded. */
  peerCard(did: string) {
    const peer = this.state.peers.find((p) => p.did === did);
    if (!peer) throw new PairlinkError('PEER_NOT_FOUND', `no pinned peer ${did}`);
    return { peer, card: readVerifiedCard(peer.card) };
  }
}

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
