import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../agent/agent.js';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import {
  type AgentClock,
  isTransientRelayFailure,
  type RelayTransport,
  type RelayTransportHandlers,
} from '../../agent/relay-transport.js';
import { RelayConnection } from '../../relay/client/relay-connection.js';
import { type RunningRelay, startRelay } from '../../relay/server/relay-server.js';
import { PairlinkError } from '../../src/errors.js';
import { FaultProxy, seededRandom } from './fault-proxy.js';

/**
 * One seeded fault run: a relay (memory or Redis store) behind a FaultProxy, two agents in this
 * process pairing through it while the proxy drops, duplicates, delays and reorders frames, cuts
 * and silences connections, the relay restarts, and either agent "crashes". A crash is taken the
 * way SIGKILL takes a process: at one instant the agent's state directory is copied as it is on
 * disk (a write in flight may be torn), every timer and every relay operation of the old agent
 * stops for good, and a new agent starts from the copy. Then the faults stop, the run waits for
 * both sides to settle, moves the agents' clock past every deadline, and checks the invariants.
 */
export interface FaultRunOptions {
  readonly seed: number;
  readonly redisUrl?: string | undefined;
  /** Real milliseconds of faults before healing. */
  readonly faultMs?: number;
  /** Real milliseconds to wait for both sides to settle once healed. */
  readonly settleMs?: number;
}

export interface FaultRunResult {
  readonly seed: number;
  readonly form: 'url' | 'code';
  readonly outcome: 'both' | 'neither' | 'unconfirmed' | 'not-started';
  readonly events: string[];
  readonly violations: string[];
  readonly ms: number;
}

const silent = pino({ level: 'silent' });
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
    transports.add(t);
    return {
      createMailbox: (...a) => (dead ? gone() : t.createMailbox(...a)),
      createNameplate: (...a) => (dead ? gone() : t.createNameplate(...a)),
      claimNameplate: (...a) => (dead ? gone() : t.claimNameplate(...a)),
      post: (...a) => (dead ? gone() : t.post(...a)),
      deleteMailbox: (...a) => (dead ? gone() : t.deleteMailbox(...a)),
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
): Promise<RunningAgent> {
  const keystore = await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`);
  const switcher = killable((url, handlers) => new RelayConnection(url, handlers, TIMINGS));
  const agent = await Agent.start({
    stateFile: join(home, 'state.json'),
    keystore,
    relayUrl,
    name,
    logger: silent,
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

export async function faultRun(options: FaultRunOptions): Promise<FaultRunResult> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const events: string[] = [];
  const violations: string[] = [];
  const root = mkdtempSync(join(tmpdir(), 'pl-fault-'));
  const prefix = `pl:f${options.seed}:`;
  const relayOptions = {
    host: '127.0.0.1',
    port: 0,
    redisUrl: options.redisUrl,
    redisPrefix: prefix,
    trustProxy: false,
    limits: { ipRatePerSecond: 100_000, ipBurst: 100_000 },
    logger: silent,
  };
  let relay: RunningRelay = await startRelay(relayOptions);
  const proxy = new FaultProxy({ host: '127.0.0.1', port: relay.port }, options.seed);
  await proxy.listen();
  const form: 'url' | 'code' = random() < 0.5 ? 'url' : 'code';
  const homes = { issuer: join(root, 'issuer'), acceptor: join(root, 'acceptor') };
  let issuer = await startRunAgent(homes.issuer, 'issuer', proxy.url, new RunClock());
  let acceptor = await startRunAgent(homes.acceptor, 'acceptor', proxy.url, new RunClock());
  let memoryRelayLost = false;
  let outcome: FaultRunResult['outcome'] = 'not-started';
  const crash = async (which: 'issuer' | 'acceptor') => {
    const victim = which === 'issuer' ? issuer : acceptor;
    const copy = `${victim.home}-${events.length}`;
    cpSync(victim.home, copy, { recursive: true }); // the disk as SIGKILL leaves it
    victim.kill();
    victim.clock.stopAll();
    const clock = new RunClock();
    clock.offset = victim.clock.offset;
    const restarted = await startRunAgent(copy, which, proxy.url, clock);
    if (which === 'issuer') issuer = restarted;
    else acceptor = restarted;
  };
  try {
    proxy.setRates({
      drop: random() * 0.15,
      duplicate: random() * 0.15,
      delay: random() * 0.3,
      maxDelayMs: 400,
      cutHttp: random() * 0.1,
    });
    const invite = await retried(() => issuer.agent.createInvite({ format: form, ttlSeconds: 60 }));
    const text = form === 'url' ? invite.url! : invite.code!;
    let acceptId: string | null = null;
    const accepting = retried(() => acceptor.agent.startAccept(text, false)).then(
      (record) => {
        acceptId = record.id;
      },
      (error: Error) => events.push(`accept refused: ${(error as PairlinkError).code ?? error.message}`),
    );
    // The fault schedule: a few disruptions at seeded moments while the pairing runs.
    const faultMs = options.faultMs ?? 2500;
    const disruptions = Math.floor(random() * 4);
    const plan = Array.from({ length: disruptions }, () => ({ at: random() * faultMs, kind: random() }));
    plan.sort((a, b) => a.at - b.at);
    let elapsed = 0;
    for (const step of plan) {
      await sleep(step.at - elapsed);
      elapsed = step.at;
      if (step.kind < 0.2) {
        events.push('cut all connections');
        proxy.cutAll();
      } else if (step.kind < 0.4) {
        events.push('half-open for 1.5 s');
        proxy.setSilent(true);
        await sleep(1500);
        proxy.setSilent(false);
      } else if (step.kind < 0.55) {
        events.push(`relay restart (${options.redisUrl ? 'redis' : 'memory'})`);
        proxy.setRefusing(true);
        proxy.cutAll();
        await relay.close();
        relay = await startRelay(relayOptions);
        if (!options.redisUrl) memoryRelayLost = true;
        proxy.retarget({ host: '127.0.0.1', port: relay.port });
        proxy.setRefusing(false);
      } else if (step.kind < 0.8) {
        events.push('crash issuer');
        await crash('issuer');
      } else {
        events.push('crash acceptor');
        await crash('acceptor');
      }
    }
    await sleep(Math.max(0, faultMs - elapsed));
    await accepting;
    proxy.setRates({});
    proxy.setSilent(false);
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
        if (issuerPeer.confirmed === false && when === 'after deadlines' && !memoryRelayLost)
          violations.push(`${when}: both pinned, but the issuer's pin is still unconfirmed`);
        return 'both';
      }
      if (!issuerPeer && !acceptorPeer) return 'neither';
      if (acceptorPeer) {
        violations.push(`${when}: the acceptor pinned the issuer, the issuer did not pin it`);
        return 'unconfirmed';
      }
      if (issuerPeer?.confirmed !== false) violations.push(`${when}: one-sided pin shown as confirmed`);
      else if (!memoryRelayLost && when === 'after deadlines')
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
  } catch (error) {
    violations.push(`run failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    for (const a of [issuer, acceptor]) {
      a.kill();
      a.clock.stopAll();
    }
    await proxy.close();
    await relay.close();
    rmSync(root, { recursive: true, force: true });
  }
  return { seed: options.seed, form, outcome, events, violations, ms: Date.now() - started };
}
