import { describe, expect, it } from 'vitest';
import { FIRST_ANSWER_SECONDS, givesUpOnRelay } from '../../agent/relay-trouble.js';

const started = 1_800_000_000_000;
const failure = {
  code: 'RELAY_UNREACHABLE' as const,
  acceptStartedMs: started,
  agentStartedMs: started - 60_000,
  answeredAtMs: null,
  nowMs: started + FIRST_ANSWER_SECONDS * 1000,
};

describe('when an accept gives up on its relay', () => {
  it('gives up once its first seconds passed with no answer from the relay', () => {
    expect(givesUpOnRelay(failure)).toBe(true);
    expect(givesUpOnRelay({ ...failure, code: 'RELAY_PROTOCOL' })).toBe(true);
    // An answer from before the accept says nothing about now.
    expect(givesUpOnRelay({ ...failure, answeredAtMs: started - 1 })).toBe(true);
  });

  it('keeps trying before then, after any answer since it started, or for what the relay said itself', () => {
    expect(givesUpOnRelay({ ...failure, nowMs: failure.nowMs - 1 })).toBe(false);
    expect(givesUpOnRelay({ ...failure, answeredAtMs: started + 5_000 })).toBe(false);
    expect(givesUpOnRelay({ ...failure, code: 'INVITE_NOT_FOUND' })).toBe(false);
  });

  it('keeps trying an accept resumed after a restart, or on a transport that does not say', () => {
    expect(givesUpOnRelay({ ...failure, agentStartedMs: started + 1000 })).toBe(false);
    expect(givesUpOnRelay({ ...failure, answeredAtMs: undefined })).toBe(false);
  });
});
