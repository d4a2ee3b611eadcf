import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import {
  type AgentClock,
  isTransientRelayFailure,
  type RelayTransport,
  type RelayTransportHandlers,
} from '../../agent/relay-transport.js';
import { RelayConnection } from '../../relay/client/relay-connection.js';
import { PairlinkError } from '../../src/errors.js';
import { NOTICE_SHARE, type NoticeOutcome, noticePhase } from './fault-notices.js';
import { type FaultRates, seededRandom } from './fault-proxy.js';
import { FaultRelay } from './fault-relay.js';

/**
 * One seeded fault run: two agents in this process pairing through relays (memory or Redis store)
 * behind FaultProxies while the proxies drop, duplicate, delay and reorder frames, cut, silence
 * and refuse connections, a relay restarts, and either agent "crashes". In a share of runs (the
 * seed decides) issuer and acceptor each have their own home relay: the pairing runs on the
 * invite's relay (a link names it; a code is accepted with it passed), the faults hit either
 * relay, and the acceptor's home relay may be down throughout, which must not matter. A crash is
 * taken the way SIGKILL takes a process: at one instant the agent's state directory is copied as
 * it is on disk (a write in flight may be torn), every timer and every relay operation of the old
 * agent stops for good, and a new agent starts from the copy. Then the faults stop, the run waits
 * for both sides to settle, moves the agents' clock past every deadline, and checks the invariants.
 * In a share of the runs that ended with both pinned, a notice phase follows (fault-notices.ts):
 * an unpair (a ping first, or both at once) under faults and crashes, heard on both sides.
 */
export interface FaultRunOptions {
  readonly seed: number;
  readonly redisUrl?: string | undefined;
  /** The share of seeds run across two relays; by default CROSS_RELAY_SHARE. */
  readonly crossShare?: number;
  /** The share of runs ending both pinned that go on to a notice phase; by default NOTICE_SHARE. */
  readonly noticeShare?: number;
  /** Real milliseconds of faults before healing. */
  readonly faultMs?: number;
  /** Real milliseconds to wait for both sides to settle once healed. */
  readonly settleMs?: number;
  /**
   * Where every agent's and relay's log line (debug and up) and the run's events go, in order, as
   * they happen (so a run that hangs can be read); none by default.
   */
  readonly log?: string[];
}

export interface FaultRunResult {
  readonly seed: number;
  readonly form: 'url' | 'code';
  readonly store: 'memory' | 'redis';
  /** One relay for both agents, or a home relay each. */
  readonly relays: 'same' | 'cross';
  /** Form, store and relays in a few words, for the run's report line. */
  readonly description: string;
  readonly outcome: 'both' | 'neither' | 'unconfirmed' | 'not-started';
  readonly events: string[];
  readonly violations: string[];
  /** The notice phase, in the runs that had one. */
  readonly notices: NoticeOutcome | null;
  readonly ms: number;
}

/** By default a third of the seeds pair across two relays. */
export const CROSS_RELAY_SHARE = 1 / 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A clock that can jump forward, and whose timers can all be stopped at once (a crash). */
class RunClock implements AgentClock {
  offset = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  now(): number {
    return Math.floor(Date.now() / 1000) + this.offset;
  }
  every(ms: number, run: () => void): () => void {
    const timer = setInterval(run, ms);
    this.timers.add(timer);
    return () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
  }
  stopAll(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
  }
}

/** Wraps a transport so that, once killed, nothing goes out and nothing comes in. */
function killable(inner: (relayUrl: string, h: RelayTransportHandlers) => RelayTransport) {
  let dead = false;
  const transports = new Set<RelayTransport>();
  const gone = () => Promise.reject(new PairlinkError('RELAY_UNREACHABLE', 'crashed'));
  const factory = (relayUrl: string, handlers: RelayTransportHandlers): RelayTransport => {
    const guarded: RelayTransportHandlers = {
      onMessage: (...a) => !dead && handlers.onMessage(...a),
      onMailboxGone: (m) => !dead && handlers.onMailboxGone(m),
      onConnectionChange: (c) => !dead && handlers.onConnectionChange(c),
    };
    const t = inner(relayUrl, guarded);
    // One the dead agent opens (its stopped pool reopening a relay for a post in flight) is closed
    // at once: its reconnects would otherwise outlive the run and keep the process from exiting.
    if (dead) t.close();
    else transports.add(t);
    return {
      createMailbox: (...a) => (dead ? gone() : t.createMailbox(...a)),
      createNameplate: (...a) => (dead ? gone() : t.createNameplate(...a)),
      claimNameplate: (...a) => (dead ? gone() : t.claimNameplate(...a)),
      post: (...a) => (dead ? gone() : t.post(...a)),
      postInOrder: (m, w, bodies) => (dead ? bodies.map(() => gone()) : t.postInOrder(m, w, bodies)),
      deleteMailbox: (...a) => (dead ? gone() : t.deleteMailbox(...a)),
      createInbox: (...a) => (dead ? gone() : t.createInbox(...a)),
      renewInbox: (...a) => (dead ? gone() : t.renewInbox(...a)),
      addInboxWriter: (...a) => (dead ? gone() : t.addInboxWriter(...a)),
      revokeInboxWriter: (...a) => (dead ? gone() : t.revokeInboxWriter(...a)),
      trimInbox: (...a) => (dead ? gone() : t.trimInbox(...a)),
      watch: (...a) => !dead && t.watch(...a),
      unwatch: (...a) => !dead && t.unwatch(...a),
      resync: (...a) => !dead && t.resync(...a),
      get connected() {
        return !dead && t.connected;
      },
      get watchCount() {
        return t.watchCount;
      },
      get socketCount() {
        return t.socketCount;
      },
      close: () => {
        transports.delete(t);
        t.close();
      },
    };
  };
  return {
    factory,
    kill() {
      dead = true;
      for (const t of transports) t.close();
      transports.clear();
    },
  };
}

interface RunningAgent {
  agent: Agent;
  kill: () => void;
  clock: RunClock;
  home: string;
}

/** Short timeouts so a run takes seconds; the schedule of resends is the production one. */
const TIMINGS = {
  httpTimeoutMs: 1500,
  socket: { postTimeoutMs: 1500, pingIntervalMs: 700, connectTimeoutMs: 1500, maxBackoffMs: 800 },
};

async function startRunAgent(
  home: string,
  name: string,
  relayUrl: string,
  clock: RunClock,
  logger: Logger,
): Promise<RunningAgent> {
  const keystore = await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`);
  const switcher = killable((url, handlers) => new RelayConnection(url, handlers, TIMINGS));
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore,
    relayUrl,
    name,
    logger,
    clock,
    transport: switcher.factory,
  });
  return { agent, kill: switcher.kill, clock, home };
}

/** Retries an operation that the faults may fail, a few times, as a script would. */
async function retried<T>(run: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await run();
    } catch (error) {
      if (i + 1 >= attempts || !(error instanceof PairlinkError) || !isTransientRelayFailure(error.code))
        throw error;
      await sleep(200);
    }
  }
}

/** Frame faults for one relay's proxy, drawn from the run's seed. */
function drawRates(random: () => number): FaultRates {
  return {
    drop: random() * 0.15,
    duplicate: random() * 0.15,
    delay: random() * 0.3,
    maxDelayMs: 400,
    cutHttp: random() * 0.1,
  };
}

/** The disruptions a run draws from, each with the top of its share of [0, 1). */
const DISRUPTIONS = [
  [0.15, 'cut'],
  [0.3, 'half-open'],
  [0.4, 'outage'],
  [0.55, 'restart'],
  [0.8, 'crash issuer'],
  [1, 'crash acceptor'],
] as const;
type Disruption = (typeof DISRUPTIONS)[number][1];
const disruptionOf = (roll: number): Disruption => DISRUPTIONS.find(([top]) => roll < top)![1];

/** How long a half-open path or an outage lasts. */
const OUTAGE_MS = 1500;

export async function faultRun(options: FaultRunOptions): Promise<FaultRunResult> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const log = options.log;
  const events = log ? loggedEvents(log) : [];
  const violations: string[] = [];
  const relays: FaultRunResult['relays'] =
    random() < (options.crossShare ?? CROSS_RELAY_SHARE) ? 'cross' : 'same';
  const store: FaultRunResult['store'] = options.redisUrl ? 'redis' : 'memory';
  const form: 'url' | 'code' = random() < 0.5 ? 'url' : 'code';
  // Across relays, the acceptor's own relay is down the whole run in half of the runs: nothing of
  // the pairing travels there, so it must not matter.
  const acceptorHomeDown = relays === 'cross' && random() < 0.5;
  const relaysSaid =
    relays === 'same'
      ? 'one relay'
      : `two relays${acceptorHomeDown ? ", the acceptor's down throughout" : ''}`;
  const description = `${form}, ${store}, ${relaysSaid}`;
  const root = mkdtempSync(join(tmpdir(), 'pl-fault-'));
  // An error logged (an exception in the agent's background work) is a violation.
  const errors: string[] = [];
  const logger = pino(
    { level: log ? 'debug' : 'error' },
    {
      write: (line: string) => {
        log?.push(line.trimEnd());
        if (!log || /"level":(50|60)/.test(line)) errors.push(line);
      },
    },
  );
  const relayOn = (name: string, seed: number) =>
    FaultRelay.start({
      seed,
      redisUrl: options.redisUrl,
      redisPrefix: `pl:f${options.seed}:${name}:`,
      ...(log ? { logger: logger.child({ relay: name }) } : {}),
    });
  // The invite's relay is the issuer's home; the acceptor's home is another relay, or the same one.
  const inviteRelay = await relayOn('i', options.seed);
  const acceptorRelay = relays === 'cross' ? await relayOn('a', options.seed ^ 0x5bd1e995) : inviteRelay;
  const nameOf = (relay: FaultRelay) =>
    relays === 'same' ? 'the relay' : relay === inviteRelay ? "the invite's relay" : "the acceptor's relay";
  if (acceptorHomeDown) {
    events.push("the acceptor's relay down throughout");
    acceptorRelay.setDown(true);
  }
  const homes = { issuer: join(root, 'issuer'), acceptor: join(root, 'acceptor') };
  const homeRelay = { issuer: inviteRelay.url, acceptor: acceptorRelay.url };
  const start = (which: 'issuer' | 'acceptor', home: string, clock: RunClock) =>
    startRunAgent(home, which, homeRelay[which], clock, logger.child({ agent: which }));
  let issuer = await start('issuer', homes.issuer, new RunClock());
  let acceptor = await start('acceptor', homes.acceptor, new RunClock());
  let outcome: FaultRunResult['outcome'] = 'not-started';
  let notices: NoticeOutcome | null = null;
  const crashed = new WeakSet<Agent>();
  const stopping: Promise<void>[] = [];
  let crashes = 0;
  const crash = async (which: 'issuer' | 'acceptor') => {
    const victim = which === 'issuer' ? issuer : acceptor;
    const copy = `${victim.home}-${++crashes}`;
    cpSync(victim.home, copy, { recursive: true }); // the disk as SIGKILL leaves it
    crashed.add(victim.agent);
    victim.kill();
    // What the old agent still does touches only its old directory; it must be done before the
    // run removes that (so is every agent of the run at its end).
    stopping.push(victim.agent.stop());
    victim.clock.stopAll();
    const clock = new RunClock();
    clock.offset = victim.clock.offset;
    const restarted = await start(which, copy, clock);
    if (which === 'issuer') issuer = restarted;
    else acceptor = restarted;
  };
  /** Network faults hit the invite's relay, or (across relays, when it is up) now and then the acceptor's. */
  const disrupt = async (kind: Disruption, where: number) => {
    const relay = relays === 'cross' && !acceptorHomeDown && where < 0.3 ? acceptorRelay : inviteRelay;
    const name = nameOf(relay);
    if (kind === 'crash issuer' || kind === 'crash acceptor') {
      events.push(kind);
      await crash(kind === 'crash issuer' ? 'issuer' : 'acceptor');
    } else if (kind === 'cut') {
      events.push(`cut all connections to ${name}`);
      relay.proxy.cutAll();
    } else if (kind === 'half-open') {
      events.push(`${name} half-open for 1.5 s`);
      await relay.halfOpen(OUTAGE_MS);
    } else if (kind === 'outage') {
      events.push(`${name} down for 1.5 s`);
      await relay.outage(OUTAGE_MS);
    } else {
      events.push(`restart of ${name} (${store})`);
      await relay.restart();
    }
  };
  const faults = (on: boolean) => {
    if (on) {
      inviteRelay.proxy.setRates(drawRates(random));
      if (relays === 'cross' && !acceptorHomeDown) acceptorRelay.proxy.setRates(drawRates(random));
      return;
    }
    for (const relay of new Set([inviteRelay, acceptorRelay])) {
      relay.proxy.setRates({});
      relay.proxy.setSilent(false);
    }
  };
  try {
    faults(true);
    const invite = await retried(() => issuer.agent.createInvite({ format: form, ttlSeconds: 60 }));
    const text = form === 'url' ? invite.url! : invite.code!;
    // A link names its relay; a code carries none, so the acceptor is told the issuer's.
    const codeRelay = form === 'code' && relays === 'cross' ? inviteRelay.url : undefined;
    let acceptId: string | null = null;
    const accepting = retried(() => acceptor.agent.startAccept(text, false, codeRelay)).then(
      (record) => {
        acceptId = record.id;
      },
      (error: Error) => events.push(`accept refused: ${(error as PairlinkError).code ?? error.message}`),
    );
    // The fault schedule: a few disruptions at seeded moments while the pairing runs.
    const faultMs = options.faultMs ?? 2500;
    const disruptions = Math.floor(random() * 4);
    const plan = Array.from({ length: disruptions }, () => ({
      at: random() * faultMs,
      kind: disruptionOf(random()),
      where: random(),
    }));
    plan.sort((a, b) => a.at - b.at);
    let elapsed = 0;
    for (const step of plan) {
      await sleep(step.at - elapsed);
      elapsed = step.at;
      await disrupt(step.kind, step.where);
    }
    await sleep(Math.max(0, faultMs - elapsed));
    await accepting;
    faults(false);
    // Settle: both sides final, or the time allowed runs out.
    const settleBy = Date.now() + (options.settleMs ?? 45_000);
    const settled = () => {
      const invites = issuer.agent.allInvites.find((i) => i.id === invite.id);
      const issuerBusy = invites
        ? Object.values(invites.issuer.sessions).some((s) =>
            ['awaitingConfirm', 'awaitingSas', 'awaitingAck'].includes(s.phase),
          )
        : false;
      const accept = acceptId ? acceptor.agent.findAccept(acceptId) : null;
      const acceptorBusy = accept
        ? !['paired', 'failed'].includes(accept.acceptor.phase) || accept.acceptor.ackPending === true
        : false;
      return !issuerBusy && !acceptorBusy;
    };
    while (!settled() && Date.now() < settleBy) await sleep(100);
    const check = (when: string) => {
      const issuerPeer = issuer.agent.snapshot.peers.find((p) => p.did === acceptor.agent.did);
      const acceptorPeer = acceptor.agent.snapshot.peers.find((p) => p.did === issuer.agent.did);
      for (const a of [issuer, acceptor]) {
        const dids = a.agent.snapshot.peers.map((p) => p.did);
        if (new Set(dids).size !== dids.length) violations.push(`${when}: duplicate pin`);
      }
      if (issuerPeer && acceptorPeer) {
        // An ack the relay took and then lost with its memory is lost for good: "unconfirmed" is
        // then the honest answer. Otherwise the ack must have come through.
        if (issuerPeer.confirmed === false && when === 'after deadlines' && !inviteRelay.lostState)
          violations.push(`${when}: both pinned, but the issuer's pin is still unconfirmed`);
        return 'both';
      }
      if (!issuerPeer && !acceptorPeer) return 'neither';
      if (acceptorPeer) {
        violations.push(`${when}: the acceptor pinned the issuer, the issuer did not pin it`);
        return 'unconfirmed';
      }
      if (issuerPeer?.confirmed !== false) violations.push(`${when}: one-sided pin shown as confirmed`);
      else if (!inviteRelay.lostState && when === 'after deadlines')
        violations.push(`${when}: one-sided unconfirmed pin though the relay lost nothing for good`);
      return 'unconfirmed';
    };
    const before = check('settled');
    // Past every deadline (ack deadline of a 60 s invite: 60 + 300 + 240 s), every record is final.
    for (const a of [issuer, acceptor]) a.clock.offset += 3600;
    await sleep(2500);
    outcome = check('after deadlines');
    if (before !== outcome && !(before === 'unconfirmed' && outcome === 'unconfirmed'))
      events.push(`settled as ${before}, ended as ${outcome}`);
    const unfinishedInvites = issuer.agent.snapshot.invites.length;
    const unfinishedAccepts = acceptor.agent.snapshot.accepts.length;
    if (unfinishedInvites + unfinishedAccepts > 0)
      violations.push(
        `after deadlines: ${unfinishedInvites} invite(s), ${unfinishedAccepts} accept(s) not final`,
      );
    // Across relays nothing of the pairing goes to the acceptor's own relay: it never held a mailbox.
    if (acceptorRelay !== inviteRelay && (await acceptorRelay.countMailboxes()) > 0)
      violations.push(`the acceptor's relay held ${acceptorRelay.mostMailboxes} mailbox(es) of the pairing`);
    // No peer lost across a restart: a clean restart of both from their own state keeps the pins.
    const peersBefore = [issuer, acceptor].map((a) =>
      a.agent.snapshot.peers
        .map((p) => p.did)
        .sort()
        .join(),
    );
    for (const which of ['issuer', 'acceptor'] as const) await crash(which);
    const peersAfter = [issuer, acceptor].map((a) =>
      a.agent.snapshot.peers
        .map((p) => p.did)
        .sort()
        .join(),
    );
    if (peersBefore.join('|') !== peersAfter.join('|')) violations.push('a peer was lost across a restart');
    // The acceptor's relay down throughout, it has no inbox: its peer's unpair reaches only one side.
    if (outcome === 'both' && !acceptorHomeDown && random() < (options.noticeShare ?? NOTICE_SHARE))
      notices = await noticePhase(
        {
          random,
          events,
          violations,
          agent: (which) => (which === 'issuer' ? issuer : acceptor).agent,
          alive: (agent) => !crashed.has(agent),
          advance: (seconds) => {
            for (const a of [issuer, acceptor]) a.clock.offset += seconds;
          },
          crash,
          disrupt: (roll, where) => disrupt(disruptionOf(roll), where),
          faults,
        },
        options.faultMs ?? 2500,
      );
  } catch (error) {
    violations.push(`run failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    for (const a of [issuer, acceptor]) {
      a.kill();
      a.clock.stopAll();
      stopping.push(a.agent.stop());
    }
    for (const relay of new Set([inviteRelay, acceptorRelay])) await relay.close();
    for (const [i, stopped] of stopping.entries())
      await stopped.catch((error: Error) => violations.push(`agent ${i} did not stop: ${error.message}`));
    rmSync(root, { recursive: true, force: true });
  }
  if (errors.length > 0) violations.push(`${errors.length} error(s) logged, the first: ${errors[0]}`);
  const ms = Date.now() - started;
  return {
    seed: options.seed,
    form,
    store,
    relays,
    description,
    outcome,
    events,
    violations,
    notices,
    ms,
  };
}

/** The run's events list, each event also a timed line of `log`, so the log reads as one timeline. */
function loggedEvents(log: string[]): string[] {
  const events: string[] = [];
  events.push = (...items: string[]) => {
    for (const event of items) log.push(JSON.stringify({ time: Date.now(), event }));
    return Array.prototype.push.apply(events, items);
  };
  return events;
}
