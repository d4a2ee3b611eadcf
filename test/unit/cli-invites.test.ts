import { describe, expect, it } from 'vitest';
import { attemptsText } from '../../cli/commands/invites.js';
import type { InviteSummary } from '../../src/rpc/protocol.js';

/** A code invite as `invite.list` answers it after its memory relay restarted (seen in a trial). */
const lost: InviteSummary = {
  id: '8RZ8JCBR',
  format: 'code',
  mode: 'peer',
  relayUrl: 'http://127.0.0.1:7457',
  expiresAt: '2026-12-06T13:51:54.000Z',
  usesLeft: 1,
  requireSas: false,
  status: 'failed',
  error: 'INVITE_NOT_FOUND',
  createdAt: '2026-12-06T13:41:54.000Z',
  failedAttempts: 0,
  sessions: [],
};

describe('pairlink invites --all: why a finished invite failed', () => {
  it('names the reason of a failed invite (a relay that lost the nameplate), not just "failed"', () => {
    expect(attemptsText(lost)).toBe(
      '  failed: the relay lost its nameplate (it restarted without its store?); make a new one',
    );
  });

  it('a burned code says it was burned, and pending invites show their failed attempts only', () => {
    expect(attemptsText({ ...lost, error: 'INVITE_BURNED', failedAttempts: 3 })).toBe(
      '  burned after 3 failed code attempts',
    );
    const { error: _none, ...pending } = lost;
    expect(attemptsText({ ...pending, status: 'pending', failedAttempts: 2 })).toBe(
      '  2 failed code attempts',
    );
    expect(attemptsText({ ...pending, status: 'pending' })).toBe('');
  });

  it('a failure with no issuer wording still names its code', () => {
    expect(attemptsText({ ...lost, error: 'RELAY_UNREACHABLE' })).toBe('  failed: RELAY_UNREACHABLE');
  });
});
