import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AgentLink } from '../../bots/core/agent-link.js';
import type { ChatSurface } from '../../bots/core/chat-surface.js';
import { LiveInvites } from '../../bots/core/live-invites.js';
import type { Actor } from '../../bots/core/policy.js';
import { type CommandBot, type CommandRequest, runCommand } from '../../bots/core/run-command.js';
import { PairlinkError } from '../../src/errors.js';

// The bots' one command flow against an in-memory chat surface: policy, answer, error sentence
// and the log line, with no chat SDK and no agent (no command here calls it).

type Where = { channelId: string };

/** A chat surface that records what the flow did to it, in order. */
function surface(actor: Actor | Error): ChatSurface<Where> & { readonly seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    logFields: { chat: 'test', channel: 'C1' },
    userId: actor instanceof Error ? 'U0' : actor.userId,
    mention: '@someone',
    creator: { chat: 'discord', user: 'someone' },
    followMs: 0,
    actor: async () => {
      if (actor instanceof Error) throw actor;
      return actor;
    },
    refusal: (action, minterOnly) => `refused ${action}${minterOnly ? ' (minter only)' : ''}`,
    refuse: async (line) => void seen.push(`refuse: ${line}`),
    begin: async () => void seen.push('begin'),
    reply: async (lines) => void seen.push(`reply: ${lines.join(' / ')}`),
    end: async (ok) => void seen.push(`end: ${ok}`),
    tellLater: async (lines) => void seen.push(`later: ${lines.join(' / ')}`),
    formatTime: (iso) => iso,
    postInvite: async () => ({ status: 'shown' }),
  };
}

async function bot(allow: CommandBot<Where>['allow'] = {}) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const agent = new AgentLink(join(tmpdir(), 'pl-no-agent.sock'), 1_000, log);
  const file = join(mkdtempSync(join(tmpdir(), 'pl-run-command-')), 'state', 'posts.json');
  const invites = await LiveInvites.open<Where>(file, agent, async () => ({ status: 'edited' }), log);
  return { core: { agent, invites, log, allow }, lines };
}

const member: Actor = { userId: 'U1', roleIds: ['R1'], isModerator: false };
const moderator: Actor = { userId: 'U9', roleIds: [], isModerator: true };
const answering = (text: string): CommandRequest<Where> => ({
  action: 'peers',
  run: async () => ({ lines: [text] }),
});

describe('runCommand (the bots’ one command flow)', () => {
  it('refuses a member the policy does not allow, without running anything, and logs it', async () => {
    const { core, lines } = await bot();
    const chat = surface(member);
    await runCommand(core, chat, answering('never'));
    expect(chat.seen).toEqual(['refuse: refused peers']);
    expect(lines.filter((l) => l.msg === 'command')).toEqual([
      expect.objectContaining({
        chat: 'test',
        channel: 'C1',
        user: 'U1',
        command: 'peers',
        outcome: 'refused',
      }),
    ]);
  });

  it('runs an allowed command: begins, answers, ends well, one log line', async () => {
    const { core, lines } = await bot({ peers: { userIds: [], roleIds: ['R1'] } });
    const chat = surface(member);
    let after = 0;
    await runCommand(core, chat, {
      action: 'peers',
      run: async () => ({ lines: ['a', 'b'], outcome: 'paired', after: async () => void after++ }),
    });
    expect(chat.seen).toEqual(['begin', 'reply: a / b', 'end: true']);
    expect(after).toBe(1);
    expect(lines.filter((l) => l.msg === 'command')).toEqual([
      expect.objectContaining({ command: 'peers', outcome: 'paired', ms: expect.any(Number) }),
    ]);
  });

  it('turns a failed command into its sentence, ends badly, and logs the code and the invite noted', async () => {
    const { core, lines } = await bot();
    const chat = surface(moderator);
    await runCommand(core, chat, {
      action: 'invite',
      run: async (context) => {
        context.note('INV1');
        throw new PairlinkError('INVALID_PARAMS', 'uses is a whole number from 1 to 100');
      },
    });
    expect(chat.seen[0]).toBe('begin');
    expect(chat.seen[1]).toMatch(/^reply: .*uses is a whole number from 1 to 100/);
    expect(chat.seen[2]).toBe('end: false');
    expect(lines.filter((l) => l.msg === 'command')).toEqual([
      expect.objectContaining({ command: 'invite', invite: 'INV1', outcome: 'failed INVALID_PARAMS' }),
    ]);
  });

  it('an actor the chat cannot tell is refused with the error’s sentence', async () => {
    const { core, lines } = await bot();
    const chat = surface(new PairlinkError('CHAT_UNREACHABLE', 'could not read this room’s power levels'));
    await runCommand(core, chat, answering('never'));
    expect(chat.seen).toEqual([expect.stringMatching(/^refuse: .*power levels/)]);
    expect(lines.find((l) => l.msg === 'command')).toMatchObject({ outcome: 'failed CHAT_UNREACHABLE' });
  });

  it('the minter may cancel whatever the allowlists say; minter-only ignores the allowlists', async () => {
    const { core } = await bot({ cancel: { userIds: ['U1'] } });
    const cancel = (extra: Partial<CommandRequest<Where>>): CommandRequest<Where> => ({
      action: 'cancel',
      run: async () => ({ lines: ['cancelled'] }),
      ...extra,
    });
    const stranger: Actor = { userId: 'U2', roleIds: [], isModerator: false };
    const byMinter = surface(stranger);
    await runCommand(core, byMinter, cancel({ minterId: 'U2' }));
    expect(byMinter.seen).toContain('reply: cancelled');
    const listed = surface(member);
    await runCommand(core, listed, cancel({ minterId: 'U2', minterOnly: true }));
    expect(listed.seen).toEqual(['refuse: refused cancel (minter only)']);
    const noMinter = surface(moderator);
    await runCommand(core, noMinter, cancel({ minterOnly: true }));
    expect(noMinter.seen).toEqual(['refuse: refused cancel (minter only)']);
  });
});
