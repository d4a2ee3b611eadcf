import { describe, expect, it } from 'vitest';
import { TurnCork } from '../../relay/wire/turn-cork.js';

/** A connection that records when it is corked, uncorked and written. */
function recordingWire(events: string[]) {
  let corked = 0;
  return {
    cork: () => {
      corked++;
      events.push('cork');
    },
    uncork: () => {
      corked--;
      events.push('uncork');
    },
    write: (frame: string) => events.push(corked > 0 ? `buffer ${frame}` : `write ${frame}`),
  };
}

describe('TurnCork (relay socket)', () => {
  it("a turn's frames leave in one uncork, before the save the agent queued on setImmediate in that turn", async () => {
    const events: string[] = [];
    const wire = recordingWire(events);
    const cork = new TurnCork();
    const send = (frame: string) => {
      cork.hold(wire);
      wire.write(frame);
    };
    await new Promise<void>((resolve) => {
      // DurableState.persist(): the save (its fdatasync) runs on an immediate queued before the
      // step's effects are performed.
      setImmediate(() => {
        events.push('save');
        resolve();
      });
      // A replayable step's frame, sent from the effect runner's promise chain, then another.
      void Promise.resolve()
        .then(() => send('reply'))
        .then(() => send('delete'));
    });
    expect(events).toEqual(['cork', 'buffer reply', 'buffer delete', 'uncork', 'save']);
  });

  it('one cork per turn however many frames, and a later turn corks again', async () => {
    const events: string[] = [];
    const wire = recordingWire(events);
    const cork = new TurnCork();
    cork.hold(wire);
    cork.hold(wire);
    expect(events).toEqual(['cork']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['cork', 'uncork']);
    cork.hold(wire);
    cork.hold(wire);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });

  it('no connection yet: nothing to cork', () => {
    expect(() => new TurnCork().hold(null)).not.toThrow();
  });
});
