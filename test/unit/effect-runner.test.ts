import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type EffectOwner, EffectRunner } from '../../agent/effect-runner.js';
import type { RelayPool } from '../../agent/relay-pool.js';
import type { RelayTransport } from '../../agent/relay-transport.js';
import type { ErrorCode } from '../../src/errors.js';
import { PairlinkError } from '../../src/errors.js';
import type { Effect, RelayEffect } from '../../src/handshake/effects.js';

const bytes = (n: number) => new Uint8Array(16).fill(n);
const owner: EffectOwner = {
  kind: 'invite',
  id: 'i1',
  mailboxId: bytes(1),
  readCapability: bytes(2),
  relay: 'http://127.0.0.1:1',
};
const replyBox = { mailboxId: bytes(3), writeCapability: bytes(4) };
const send = (frame: number, track = false): Effect => ({
  type: 'send',
  to: { ...replyBox }, // a copy, as a machine makes it: the same mailbox is the same bytes
  frame: new Uint8Array([frame]),
  ...(track ? { track } : {}),
});

/** A runner on a transport that records what it was asked, refusing the posts of `refused` frames. */
function runnerOn(refused: number[] = []) {
  const calls: string[] = [];
  const failed: { effect: RelayEffect; code: ErrorCode }[] = [];
  const delivered: number[] = [];
  const refuse = (frame: Uint8Array) =>
    refused.includes(frame[0]!) ? new PairlinkError('RELAY_BUSY', 'refused') : null;
  const transport = {
    post: async (_m: Uint8Array, _w: Uint8Array, body: Uint8Array) => {
      calls.push(`post ${body[0]}`);
      const error = refuse(body);
      if (error) throw error;
    },
    postInOrder: (_m: Uint8Array, _w: Uint8Array, bodies: readonly Uint8Array[]) => {
      calls.push(`postInOrder ${bodies.map((b) => b[0]).join(',')}`);
      // As the port promises: once one is refused, every one after it fails too.
      let refusal: PairlinkError | null = null;
      return bodies.map((body) => {
        refusal ??= refuse(body);
        return refusal ? Promise.reject(refusal) : Promise.resolve();
      });
    },
    deleteMailbox: async () => void calls.push('delete'),
    unwatch: () => undefined,
  } as unknown as RelayTransport;
  const relays = {
    holding: <T>(_url: string, run: (relay: RelayTransport) => Promise<T>) => run(transport),
  } as unknown as RelayPool;
  const runner = new EffectRunner({
    relays,
    now: () => 0,
    logger: pino({ level: 'silent' }),
    emit: () => undefined,
    failed: async (_owner, effect, code) => void failed.push({ effect, code }),
    delivered: async (_owner, frame) => void delivered.push(frame[0]!),
  });
  return { runner, calls, failed, delivered };
}

describe('effect runner', () => {
  it('sends in a row to one mailbox (an inbox frame, then the welcome or ack) go in one ordered post, not one round trip each', async () => {
    const { runner, calls, failed, delivered } = runnerOn();
    runner.schedule([send(1), send(2, true), { type: 'closeMailbox', mailboxId: bytes(1) }, send(3)], owner);
    await runner.idle();
    expect(calls).toEqual(['postInOrder 1,2', 'delete', 'post 3']);
    expect(delivered).toEqual([2]);
    expect(failed).toEqual([]);
  });

  it('sends to other mailboxes, or with another capability, are not joined', async () => {
    const { runner, calls } = runnerOn();
    const other: Effect = {
      type: 'send',
      to: { mailboxId: bytes(9), writeCapability: bytes(4) },
      frame: bytes(5),
    };
    const otherCap: Effect = {
      type: 'send',
      to: { mailboxId: bytes(3), writeCapability: bytes(8) },
      frame: bytes(6),
    };
    runner.schedule([send(1), other, send(2), otherCap], owner);
    await runner.idle();
    expect(calls).toEqual(['post 1', 'post 5', 'post 2', 'post 6']);
  });

  it('the first refused post of a run is the failure reported; nothing after it counts as delivered', async () => {
    const { runner, calls, failed, delivered } = runnerOn([1]);
    runner.schedule([send(1), send(2, true), send(3)], owner);
    await runner.idle();
    expect(calls).toEqual(['postInOrder 1,2,3']);
    expect(delivered).toEqual([]);
    expect(failed.map((f) => [f.effect.type === 'send' && f.effect.frame[0], f.code])).toEqual([
      [1, 'RELAY_BUSY'],
    ]);
  });

  it('a refusal in the middle: the frames before it were delivered, the one refused is reported', async () => {
    const { runner, failed, delivered } = runnerOn([2]);
    runner.schedule([send(1, true), send(2, true), send(3, true)], owner);
    await runner.idle();
    expect(delivered).toEqual([1]);
    expect(failed.map((f) => f.effect.type === 'send' && f.effect.frame[0])).toEqual([2]);
  });
});
