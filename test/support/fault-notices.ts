import type { Agent } from '../../agent/agent.js';
import { PairlinkError } from '../../src/errors.js';

/**
 * The notice phase of a seeded fault run (fault-run.ts), in a share of the runs that ended with
 * both pinned: with the faults on again, one side unpairs the other (in some runs after a ping; in
 * some both unpair each other at once) while the seed's disruptions hit (drops, duplicates,
 * reorders, cuts, relay restarts: a memory relay's loses the inbox, which its agent makes again;
 * crashes of either agent), among them a crash of the unpairing side right after the unpair was
 * queued and saved (before it was posted), and one of the other side the moment it applied the
 * unpair (saved, its receipt not yet posted). Then the faults stop, and the run settles, moving
 * the agents' clock an hour at a time so the outbox's retries (30 s doubling to 1 h) come due,
 * until the unpair is heard on both sides and its receipt came back, or a bound. Checked: what an
 * unpair acknowledged to its caller is never undone; the side that was unpaired pins its peer only
 * while the unpair is still queued for retry; each side applies an unpair at most once (its
 * `peer.removed` reason 'peer' events and its audit log's `unpairedByPeer` entries); no error is
 * logged; the outbox is empty once receipted, and after the TTL in every case.
 */

export type Side = 'issuer' | 'acceptor';
const other = (side: Side): Side => (side === 'issuer' ? 'acceptor' : 'issuer');

/** What a fault run lends the phase: its agents (a crash replaces one), faults and seed. */
export interface NoticeRun {
  readonly random: () => number;
  readonly events: string[];
  readonly violations: string[];
  agent(side: Side): Agent;
  /** False once `agent` was crashed (from the instant its state was copied). */
  alive(agent: Agent): boolean;
  /** Jumps both agents' clocks forward. */
  advance(seconds: number): void;
  /** Copies the side's state as a SIGKILL leaves it, stops it, starts a new agent from the copy. */
  crash(side: Side): Promise<void>;
  /** One of the run's seeded disruptions (a network fault or a crash), drawn from `roll`. */
  disrupt(roll: number, where: number): Promise<void>;
  /** Frame faults on (drawn from the seed) or off (healed). */
  faults(on: boolean): void;
}

/** Where the unpair stands between two sides (see `judge`). */
export type NoticeState =
  | 'both removed'
  | 'awaiting receipt'
  | 'retrying'
  | 'not unpaired'
  | 'not notified'
  | 'unanswerable'
  | 'one-sided';

export interface NoticeOutcome {
  /** What was done: who unpaired whom, a ping first, both at once; the targeted crash. */
  readonly plan: string;
  /** Once healed and settled without moving the clock. */
  readonly settled: NoticeState;
  /** After the bounded settle with the clock moved along. */
  readonly final: NoticeState;
}

/** The share of runs that ended with both pinned that go on to the notice phase. */
export const NOTICE_SHARE = 0.5;
/** The settle's rounds: each moves the clocks an hour, the longest backoff between two retries. */
const SETTLE_ROUNDS = 12;
const HOUR = 3600;
/** Past every notice's TTL (30 days). */
const PAST_TTL = 31 * 86_400;
/** How long a ping waits for its pong (real seconds). */
const PING_WAIT_SECONDS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `ok`, polling. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await sleep(100);
  return ok();
}

export async function noticePhase(run: NoticeRun, faultMs: number): Promise<NoticeOutcome> {
  const { random, events, violations } = run;
  const mode = random();
  const both = mode < 0.2;
  const ping = !both && mode < 0.5;
  const from: Side = random() < 0.5 ? 'issuer' : 'acceptor';
  const to = other(from);
  const unpairers: Side[] = both ? ['issuer', 'acceptor'] : [from];
  const target = random();
  const crashAfterQueue = target < 0.25;
  const crashOnApply = !crashAfterQueue && target < 0.5;
  const plan = [
    both ? 'both unpair at once' : `${ping ? 'ping, then ' : ''}${from} unpairs ${to}`,
    ...(crashAfterQueue ? [`crash ${from} once its unpair is queued`] : []),
    ...(crashOnApply ? [`crash ${to} once it applied the unpair`] : []),
  ].join('; ');
  events.push(`notices: ${plan}`);

  const dids = { issuer: run.agent('issuer').did, acceptor: run.agent('acceptor').did };
  /** `peer.removed` reason 'peer' heard per side, across its crashes. */
  const applied = { issuer: 0, acceptor: 0 };
  /** The unpair was acknowledged to its caller (saved): nothing may undo it. */
  const acknowledged = { issuer: false, acceptor: false };
  /** Unpaired with no notice: the peer handed no inbox (its relay had none yet), one-sided by design. */
  const unnotified = { issuer: false, acceptor: false };
  /** One disruption at a time: two crashes of one side at once would leave an agent running. */
  let crashing: Promise<void> | null = null;
  /** The phase is over: no crash may start (its new agent would outlive the run). */
  let over = false;
  const exclusive = (work: () => Promise<void>) => {
    crashing ??= work().finally(() => {
      crashing = null;
      watch();
    });
    return crashing;
  };
  const crash = (side: Side) => exclusive(() => run.crash(side));
  const watched = new Set<Agent>();
  const watch = () => {
    for (const side of ['issuer', 'acceptor'] as const) {
      const agent = run.agent(side);
      if (watched.has(agent)) continue;
      watched.add(agent);
      agent.onPeerRemoved((removed) => {
        if (removed.reason !== 'peer' || !run.alive(agent)) return;
        applied[side]++;
        // Saved, its receipt just handed to the relay connection: the disk as SIGKILL leaves it now.
        if (crashOnApply && side === to && applied[side] === 1 && crashing === null && !over)
          void crash(side);
      });
    }
  };
  watch();

  const unpair = async (side: Side) => {
    const agent = run.agent(side);
    const result = await agent.removePeer(dids[other(side)]);
    // Answered by an agent crashed meanwhile, the answer would never have reached its caller.
    if (result.removed && run.alive(agent)) acknowledged[side] = true;
    if (result.removed && !result.notified) unnotified[side] = true;
    events.push(`${side} unpaired: ${result.notified ? 'notified' : 'not notified'}`);
    if (crashAfterQueue && side === from) await crash(side);
  };
  const actions = async () => {
    if (ping) {
      const pong = await run.agent(from).pingPeer(dids[to], PING_WAIT_SECONDS);
      events.push(`ping ${pong.reachable ? 'answered' : 'unanswered'}`);
    }
    await Promise.all(unpairers.map(unpair));
  };
  const disruptions = async () => {
    const plan = Array.from({ length: Math.floor(random() * 4) }, () => ({
      at: random() * faultMs,
      roll: random(),
      where: random(),
    })).sort((a, b) => a.at - b.at);
    let elapsed = 0;
    for (const step of plan) {
      await sleep(step.at - elapsed);
      elapsed = step.at;
      await crashing;
      await exclusive(() => run.disrupt(step.roll, step.where));
    }
  };

  run.faults(true);
  // A refused operation (a relay fault, a crash under it) is the caller's answer, said in one code.
  const refused = (what: string) => (error: unknown) => {
    if (!(error instanceof PairlinkError)) throw error;
    events.push(`${what} refused: ${error.code}`);
  };
  await Promise.all([actions().catch(refused('the unpair')), disruptions()]);
  await crashing;
  run.faults(false);

  const pins = (side: Side) => run.agent(side).snapshot.peers.some((p) => p.did === dids[other(side)]);
  const queued = (side: Side) =>
    (run.agent(side).snapshot.outbox ?? []).some((n) => n.did === dids[other(side)] && n.kind === 'unpair');
  /**
   * 'not unpaired': no unpair was saved (refused, or lost with a crash before its answer); 'retrying':
   * the unpair waits in the unpairing side's outbox, the other still pins it; 'awaiting receipt':
   * neither pins the other, an unpair waits for its receipt; 'both removed': neither pins the
   * other, and every unpair was receipted (crossing unpairs are refused by each other, each
   * retried until its TTL: PROTOCOL.md §11.8); 'not notified': one side unpaired a peer that handed
   * it no inbox (the unpair reaches only that side, by design); 'unanswerable': neither pins the
   * other, and the side that applied the unpair pinned its sender without an inbox (its inbox
   * frame lost during the pairing: a memory relay's restart, a dropped frame; PROTOCOL.md §11.1),
   * so it has nowhere to post a receipt and the unpair is retried until its TTL, by design;
   * 'one-sided': one pins the other with nothing queued.
   */
  /** `side`'s unpair was applied by a peer that had pinned it without an inbox. */
  const unanswerable = (side: Side) =>
    (run.agent(other(side)).snapshot.inbox?.unpairedBy ?? []).some(
      (d) => d.peer.did === dids[side] && d.peer.inbox === undefined,
    );
  const judge = (): NoticeState => {
    for (const side of unpairers)
      if (acknowledged[side] && pins(side)) violations.push(`${side}'s acknowledged unpair was undone`);
    const issuerPins = pins('issuer');
    const acceptorPins = pins('acceptor');
    if (issuerPins && acceptorPins) return 'not unpaired';
    if (!issuerPins && !acceptorPins) {
      const waiting = both ? [] : unpairers.filter(queued);
      if (waiting.length === 0) return 'both removed';
      return waiting.every(unanswerable) ? 'unanswerable' : 'awaiting receipt';
    }
    const pinning: Side = issuerPins ? 'issuer' : 'acceptor';
    if (unnotified[other(pinning)]) return 'not notified';
    return queued(other(pinning)) ? 'retrying' : 'one-sided';
  };
  /** Each side's queue and its pin's counters, for a violation's report. */
  const where = () =>
    (['issuer', 'acceptor'] as const)
      .map((side) => {
        const agent = run.agent(side);
        const pin = agent.snapshot.peers.find((p) => p.did === dids[other(side)]);
        const queue = (agent.snapshot.outbox ?? []).map((n) => `${n.kind}#${n.counter}×${n.attempts}`);
        return `${side}: pin ${pin ? `next ${pin.nextCounter ?? 1} last ${pin.lastCounter ?? 0}` : 'none'}, outbox [${queue.join(' ')}]`;
      })
      .join('; ');
  const final = (s: NoticeState) => !['awaiting receipt', 'retrying'].includes(s);
  await until(() => final(judge()), 5000);
  const settled = judge();
  let state = settled;
  for (let round = 0; round < SETTLE_ROUNDS && !final(state); round++) {
    run.advance(HOUR);
    await until(() => final(judge()), 3000);
    state = judge();
  }
  if (state === 'one-sided') violations.push('notices: one side pins the other, and no unpair is queued');
  else if (!final(state))
    violations.push(`notices: still ${state} after ${SETTLE_ROUNDS} hours of retries (${where()})`);
  // A crash on apply may have begun during the settle: its new agent's history is the one to read.
  await crashing;
  for (const side of ['issuer', 'acceptor'] as const) {
    if (applied[side] > 1) violations.push(`notices: ${side} applied the unpair ${applied[side]} times`);
    const { entries } = await run.agent(side).history(undefined, 1000);
    const audited = entries.filter((e) => e.event === 'unpairedByPeer').length;
    if (audited > 1) violations.push(`notices: ${side}'s audit log holds ${audited} unpairedByPeer entries`);
  }
  // Past the TTL, whatever was never receipted (crossing unpairs) is given up.
  run.advance(PAST_TTL);
  const emptied = await until(
    () => (['issuer', 'acceptor'] as const).every((s) => (run.agent(s).snapshot.outbox ?? []).length === 0),
    5000,
  );
  if (!emptied) violations.push('notices: an outbox still holds a notice past its TTL');
  over = true;
  await crashing;
  return { plan, settled, final: state };
}
