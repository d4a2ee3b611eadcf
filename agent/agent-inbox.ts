import type { Logger } from 'pino';
import type { RandomSource } from '../src/crypto/random.js';
import { PairlinkError } from '../src/errors.js';
import type { StepContext } from '../src/handshake/effects.js';
import { CAPABILITY_LENGTH, MAILBOX_ID_LENGTH } from '../src/invite/invite-url.js';
import type { InboxExtension } from '../src/notice/inbox.js';
import type { AgentIdentity } from './agent-identity.js';
import type { SaveFailureLog } from './failed-saves.js';
import { InboxWriters } from './inbox-writers.js';
import type { Reading } from './notice-reader.js';
import { handedCapabilities } from './pins.js';
import type { PairingRecord } from './record-kinds.js';
import type { RelayPool } from './relay-pool.js';
import type { AgentClock, RelayTransport } from './relay-transport.js';
import type { RepeatedWarnings } from './repeated-warnings.js';
import type { AgentState, InboxRecord } from './state/agent-state.js';
import type { DurableState } from './state/durable-state.js';

/** What the inbox is made to live (the relay's maxInboxTtlSeconds: a notice is retried for 30 days). */
export const INBOX_TTL_SECONDS = 45 * 86_400;
/** Renewed once less than this is left: every 15 days, so a month of relay trouble loses nothing. */
export const INBOX_RENEW_BELOW_SECONDS = 30 * 86_400;
/**
 * How often the watched inbox is read again from its last message delivered (seconds): a watch
 * frame or a push that a lossy path lost while the socket stayed up (nothing tells the agent)
 * delays a notice by at most this long.
 */
export const INBOX_RESYNC_SECONDS = 300;
/** The longest wait between two attempts after the relay failed (seconds). */
const MAX_BACKOFF_SECONDS = 300;
export interface AgentInboxDeps {
  readonly store: DurableState;
  /** The relays: the inbox lives on the home one. */
  readonly relays: Pick<RelayPool, 'home' | 'homeUrl'>;
  /** The home relay's canonical URL (what peers are handed). */
  readonly relayUrl: string;
  /** Our identity: its commitment to its next signing key (§11.6) goes with the inbox. */
  readonly identity: Pick<AgentIdentity, 'nextKeyCommitment'>;
  readonly clock: Pick<AgentClock, 'now'>;
  readonly logger: Logger;
  readonly warnings: RepeatedWarnings;
  readonly random: RandomSource;
  readonly logFailure: SaveFailureLog;
  /** What a message in the inbox does (notice-reader.ts), judged against the state it changes. */
  read(state: AgentState, body: Uint8Array): Reading;
  /**
   * The home relay changed since the inbox was made on another one: `state` with the new inbox's
   * capabilities handed to every peer in notices (agent/inbox-move.ts), saved with the new inbox.
   */
  moved(state: AgentState, inbox: InboxRecord): AgentState;
  /** Posts the notices due now (the moved inbox's, once saved). */
  sendQueued(): void;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/**
 * The agent's inbox (docs/PROTOCOL.md §11, docs/RELAY.md Inboxes): one long-lived mailbox on the
 * home relay that its peers post notices to, each with a write capability drawn for it alone.
 * This keeps it alive: made at start (kept in the sealed state), renewed well before it lapses,
 * made again under the same id and capability when the relay lost it (a memory relay's restart:
 * its watch answers not_found), with every writer added again then; and it registers each
 * capability handed to a peer as a writer. One pass runs at a time; a relay that fails is tried
 * again on a tick, after a backoff. A relay without inboxes leaves the agent without one (said once).
 */
export class AgentInbox {
  private running = false;
  /** Another pass is owed: something changed while one ran. */
  private again = false;
  /** The relay lost it: make it again and add every writer. */
  private lost = false;
  /**
   * The tick asked for the revocations owed: they wait for it (once a second) rather than take a
   * pass and a relay op each, and go in one op per 64 (a burst of re-pairings: one op a second).
   */
  private revokeDue = false;
  /** The home relay keeps no inboxes (until the agent restarts). */
  private unsupported = false;
  private failures = 0;
  private retryAt = 0;
  private watched: string | null = null;
  /** When the watch was sent or last read again (clock seconds). */
  private watchedAt = 0;

  private readonly writers: InboxWriters;

  constructor(private readonly deps: AgentInboxDeps) {
    this.writers = new InboxWriters(deps.store, () => this.relay());
  }

  /** The inbox, when the relay has it (or had it: a lost one is made again under the same id). */
  private get record(): InboxRecord | undefined {
    const inbox = this.deps.store.state.inbox;
    return inbox && inbox.relayUrl === this.deps.relayUrl ? inbox : undefined;
  }

  /** True when `mailbox` (base64url) on `relay` (pool key) is this inbox. */
  private owns(relay: string, mailbox: string): boolean {
    return this.watched === mailbox && relay === this.deps.relays.homeUrl;
  }

  private relay(): RelayTransport {
    return this.deps.relays.home;
  }

  /**
   * A record's machine's step context, `base` with `inboxFor`, unless the record pairs a device
   * (another device of this identity is no peer that notices go to: PROTOCOL.md §11 is between
   * peers, and a device invite's issuer sends no inbox frame, so its acceptor sends none either).
   */
  context<C extends StepContext>(record: PairingRecord, base: C): C {
    const mode = 'issuer' in record ? record.mode : record.acceptor.mode;
    return mode === 'device' ? base : { ...base, inboxFor: (_session, did) => this.extensionFor(did) };
  }

  /**
   * What we hand the peer `did` of one session: our inbox with a capability for it alone, and our
   * next-key commitment; undefined while we have no inbox, or no commitment (a device given a
   * version 1 bundle: its peers are paired without notices, PROTOCOL.md §6.8). A peer we pin
   * already holds a capability, and a pairing again hands it the same one (PROTOCOL.md §11.1):
   * no new right, no writer to add or revoke at the relay, however many pairings again overlap.
   * The machine keeps what it was handed (in its inbox frame and its pin), so a step replayed
   * after a crash hands the same capability.
   */
  private extensionFor(did: string): InboxExtension | undefined {
    const inbox = this.record;
    const commitment = this.deps.identity.nextKeyCommitment;
    if (!inbox || this.unsupported || commitment === null) return undefined;
    const held = this.deps.store.state.peers.find((p) => p.did === did)?.handedWriteCapability;
    return {
      nextKeyCommitment: commitment,
      inbox: {
        relayUrl: inbox.relayUrl,
        mailboxId: inbox.mailboxId,
        writeCapability: held ?? this.deps.random(CAPABILITY_LENGTH),
      },
    };
  }

  /**
   * A message in a mailbox: false when it is not the inbox's. A message of the inbox is read now
   * (notice-reader.ts): its change is saved with `readThrough`, so a restart watches from after
   * it, and what follows the change (a receipt) waits for that save. One already read (a
   * re-read after a lost push) is skipped.
   */
  onMessage(relay: string, mailbox: string, seq: number, body: Uint8Array): boolean {
    if (!this.owns(relay, mailbox)) return false;
    const inbox = this.record;
    if (!inbox || seq <= (inbox.readThrough ?? 0)) return true;
    this.deps.logger.debug({ seq }, 'a message in the inbox');
    const reading = this.deps.read(this.deps.store.state, body);
    this.deps.store.update((s) => {
      const next = reading.change(s);
      return next.inbox ? { ...next, inbox: { ...next.inbox, readThrough: seq } } : next;
    });
    this.deps.logFailure(this.deps.store.persist().then(() => reading.after()));
    return true;
  }

  /** The relay no longer has a mailbox: false when not the inbox; else it is made again with its writers. */
  onGone(relay: string, mailbox: string): boolean {
    if (!this.owns(relay, mailbox)) return false;
    this.watched = null;
    this.lost = true;
    this.retryAt = 0;
    this.kick();
    return true;
  }

  /**
   * Once a second: the watch read again every INBOX_RESYNC_SECONDS; a pass when the inbox is
   * missing, due for renewal, or owes a writer.
   */
  tick(now: number): void {
    const inbox = this.record;
    if (inbox && this.watched !== null && now - this.watchedAt >= INBOX_RESYNC_SECONDS) {
      this.watchedAt = now;
      this.relay().resync(inbox.mailboxId);
    }
    if (this.unsupported || now < this.retryAt) return;
    const due =
      !inbox ||
      this.lost ||
      inbox.expiresAt - now < INBOX_RENEW_BELOW_SECONDS ||
      (inbox.revoking?.length ?? 0) > 0 ||
      (inbox.readThrough ?? 0) > (inbox.trimmedThrough ?? 0) ||
      (inbox.unpairedBy ?? []).some((d) => d.until < now) ||
      (this.deps.store.state.outbox ?? []).some((n) => n.writerOwed) ||
      this.deps.store.state.peers.some((p) => p.writerAdded === false);
    if (!due) return;
    this.revokeDue = true;
    this.kick();
  }

  /** Runs a pass now (or right after the one running). */
  kick(): void {
    if (this.unsupported) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.deps.logFailure(this.passes());
  }

  private async passes(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.unsupported);
    } catch (error) {
      if (!(error instanceof PairlinkError)) throw error;
      this.failed(error);
    } finally {
      this.running = false;
    }
  }

  /** The relay (or a save) failed: tried again after a backoff; not found means the relay lost it. */
  private failed(error: PairlinkError): void {
    if (error.code === 'INVITE_NOT_FOUND') this.lost = true;
    this.failures++;
    this.retryAt = this.deps.clock.now() + Math.min(MAX_BACKOFF_SECONDS, 2 ** this.failures);
    // A relay it cannot reach or does not trust is already the relay pool's one warning line
    // (relay-trouble.ts): the inbox's retry is a consequence, not a second alarm.
    const said = error.code === 'RELAY_UNTRUSTED' || error.code === 'RELAY_UNREACHABLE';
    (said ? this.deps.warnings.info : this.deps.warnings.warn).call(
      this.deps.warnings,
      { code: error.code },
      'the home relay did not take a change to the inbox; trying again',
    );
  }

  /** One pass: the inbox exists and is watched, renewed if due, and every handed capability is a writer. */
  private async pass(): Promise<void> {
    let inbox = this.record;
    if (!inbox || this.lost || inbox.writersOwed) {
      const made = await this.make(inbox);
      if (!made) return;
      inbox = made;
    }
    const now = this.deps.clock.now();
    // Whether this pass changed what must be saved before it ends. Writers marked added need not:
    // they ride the next save (a pairing's, or the tick's), as adding one again is harmless.
    let changed = false;
    if (inbox.expiresAt - now < INBOX_RENEW_BELOW_SECONDS) {
      const expiresAt = await this.relay().renewInbox(
        inbox.mailboxId,
        inbox.readCapability,
        INBOX_TTL_SECONDS,
      );
      inbox = this.save({ ...inbox, expiresAt: Math.floor(expiresAt / 1000) });
      changed = true;
    }
    this.watch(inbox);
    // Revoked before writers are added: their marks, unsaved, would make the save that a
    // revocation waits for one of its own. Only on the tick's pass.
    if (this.revokeDue) {
      this.revokeDue = false;
      await this.revokeOwed();
    }
    await this.writers.addOwed(inbox, () => {
      this.failures = 0;
    });
    // A peer unpaired before its writer was added: added now, for its receipt of our unpair.
    for (const notice of this.deps.store.state.outbox ?? []) {
      if (!notice.writerOwed || !notice.revokeAfter) continue;
      changed = true;
      await this.relay().addInboxWriter(inbox.mailboxId, inbox.readCapability, notice.revokeAfter);
      this.deps.store.update((s) => ({
        ...s,
        outbox: (s.outbox ?? []).map(({ writerOwed, ...n }) =>
          n.did === notice.did && n.counter === notice.counter
            ? n
            : { ...n, ...(writerOwed ? { writerOwed } : {}) },
        ),
      }));
    }
    if (await this.trim()) changed = true;
    this.failures = 0;
    if (changed) await this.deps.store.persist();
  }

  /**
   * Revokes the capabilities owed: peers that unpaired or were unpaired, and those a pairing again
   * (or a withdrawn pin) replaced. Only once the change that owes them is on disk (a crash must not
   * undo a pairing behind the relay's back); on the tick's pass, all in one relay op per 64. The
   * revoked leave the list in memory, to ride the next save, as revoking one again is harmless.
   */
  private async revokeOwed(): Promise<void> {
    // A peer that unpaired us, kept for its retries until its unpair expired, is revoked now.
    const now = this.deps.clock.now();
    const departed = this.record?.unpairedBy ?? [];
    const over = departed.filter((d) => d.until < now);
    if (over.length > 0)
      this.save({
        ...this.record!,
        unpairedBy: departed.filter((d) => !over.includes(d)),
        revoking: [...(this.record!.revoking ?? []), ...over.flatMap((d) => handedCapabilities(d.peer))],
      });
    const owed = this.record?.revoking ?? [];
    if (owed.length === 0) return;
    await this.deps.store.persist();
    const inbox = this.record!;
    await this.relay().revokeInboxWriter(inbox.mailboxId, inbox.readCapability, owed);
    this.save({ ...this.record!, revoking: (this.record!.revoking ?? []).filter((c) => !owed.includes(c)) });
  }

  /**
   * Trims what has been read: once per pass, so a burst of notices costs one trim, and only
   * through a `readThrough` that is on disk (a crash must never re-watch from before a trimmed
   * message whose effect was not saved). True when it trimmed (a change to save).
   */
  private async trim(): Promise<boolean> {
    const through = this.record?.readThrough ?? 0;
    if (through <= (this.record?.trimmedThrough ?? 0)) return false;
    await this.deps.store.persist();
    const inbox = this.record!;
    await this.relay().trimInbox(inbox.mailboxId, inbox.readCapability, through);
    this.save({ ...this.record!, trimmedThrough: through });
    return true;
  }

  /**
   * Makes the inbox on the relay: a lost one under its own id and capability (peers hold those),
   * with every writer owed again; else a new one. Null when the relay keeps no inboxes.
   */
  private async make(existing: InboxRecord | undefined): Promise<InboxRecord | null> {
    const mailboxId = existing?.mailboxId ?? this.deps.random(MAILBOX_ID_LENGTH);
    const readCapability = existing?.readCapability ?? this.deps.random(CAPABILITY_LENGTH);
    if (existing) {
      // Every writer owed again, on disk before the relay has the inbox again (crash safety).
      this.writers.oweAgain();
      this.save({ ...existing, writersOwed: true });
      await this.deps.store.persist();
    }
    const expiresAt = await this.relay().createInbox(mailboxId, readCapability, INBOX_TTL_SECONDS);
    if (expiresAt === null) {
      this.unsupported = true;
      this.deps.logger.warn(
        { relay: this.deps.relayUrl },
        'the home relay keeps no inboxes: peers paired now get no inbox from this agent, and an unpair reaches only this side',
      );
      return null;
    }
    if (existing) {
      // Made again, it numbers its messages from 1: a watch still held (the loss was heard over
      // HTTP first) would go on from its old position, and skip as many.
      if (this.watched !== null) this.relay().unwatch(mailboxId);
      this.watched = null;
      this.deps.warnings.warn(
        {},
        'the home relay lost the inbox; made it again, with every peer as a writer',
      );
      await this.writers.madeAgain(existing, mailboxId, readCapability);
    }
    this.lost = false;
    // An inbox on another relay than this one: the agent moved, and tells its peers (§11.3).
    const before = this.deps.store.state.inbox;
    const moved = !existing && before !== undefined && before.relayUrl !== this.deps.relayUrl;
    // Made again, it starts from seq 1: what was read before is gone with the relay's store.
    const inbox = this.save({
      relayUrl: this.deps.relayUrl,
      mailboxId,
      readCapability,
      expiresAt: Math.floor(expiresAt / 1000),
      ...(existing?.revoking ? { revoking: existing.revoking } : {}),
      ...(existing?.unpairedBy ? { unpairedBy: existing.unpairedBy } : {}),
    });
    if (moved) this.deps.store.update((s) => this.deps.moved(s, inbox));
    // A new inbox must be on disk before any peer is handed it.
    await this.deps.store.persist();
    if (moved) this.deps.sendQueued();
    return inbox;
  }

  private watch(inbox: InboxRecord): void {
    const id = b64(inbox.mailboxId);
    if (this.watched === id) return;
    this.watched = id;
    this.watchedAt = this.deps.clock.now();
    // From after what was read and saved: a restart reads each notice once.
    this.deps.logger.debug({ after: inbox.readThrough ?? 0 }, 'watching the inbox');
    this.relay().watch(inbox.mailboxId, inbox.readCapability, inbox.readThrough ?? 0);
  }

  private save(inbox: InboxRecord): InboxRecord {
    this.deps.store.update((s) => ({ ...s, inbox }));
    return inbox;
  }
}
