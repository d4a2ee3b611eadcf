import type { Logger } from 'pino';
import type { AgentLink } from './agent-link.js';
import type { ChatSurface } from './chat-surface.js';
import type { LiveInvites } from './live-invites.js';
import { type Actor, type Allowlist, type BotAction, mayCancel, mayDo } from './policy.js';
import { errorLine } from './render.js';

/** What a bot hands the command flow: its agent, its posted invites, its log and its allowlists. */
export interface CommandBot<W extends Record<string, string>> {
  readonly agent: AgentLink;
  readonly invites: LiveInvites<W>;
  readonly log: Pick<Logger, 'info' | 'warn'>;
  readonly allow: Partial<Record<BotAction, Allowlist>>;
}

/** What a running command may use; `note` names the invite its log line is about. */
export interface CommandContext<W extends Record<string, string>> extends CommandBot<W> {
  readonly surface: ChatSurface<W>;
  note(invite: string): void;
}

/** How a command ended: its reply (null: it answered already), and its log line's outcome. */
export interface Answer {
  readonly lines: readonly string[] | null;
  /** `ok` when absent; `failed …` makes it a failure. */
  readonly outcome?: string;
  /** Runs once the reply is out (following an accept, say); never rejects. */
  after?(): Promise<void>;
}

/** One command, as an adapter read it from its chat. */
export interface CommandRequest<W extends Record<string, string>> {
  readonly action: BotAction;
  /** The command's name in the log line (default: the action). */
  readonly logAs?: string;
  /** The invite the command is about, for its log line (a cancel's id). */
  readonly invite?: string;
  /** The minter of the invite it is about: they may cancel it whatever the allowlists say. */
  readonly minterId?: string;
  /** Only that minter (or a moderator) may: the allowlists do not apply (Discord's Cancel button). */
  readonly minterOnly?: boolean;
  run(context: CommandContext<W>): Promise<Answer>;
}

/**
 * Runs one command the same way in every chat: who asks and whether they may (the policy), a
 * run that turns any error into its sentence (src/error-text.ts, through errorLine), the reply,
 * and one structured log line (chat, channel or room, user, command, invite id, outcome, ms;
 * never a link or a code).
 */
export async function runCommand<W extends Record<string, string>>(
  bot: CommandBot<W>,
  surface: ChatSurface<W>,
  request: CommandRequest<W>,
): Promise<void> {
  const started = Date.now();
  let invite = request.invite;
  let outcome = 'ok';
  try {
    let actor: Actor;
    try {
      actor = await surface.actor();
    } catch (error) {
      outcome = failed(error);
      await surface.refuse(errorLine(error));
      return;
    }
    if (!allowed(actor, request, bot.allow)) {
      outcome = 'refused';
      await surface.refuse(surface.refusal(request.action, request.minterOnly === true));
      return;
    }
    await surface.begin();
    let answer: Answer;
    try {
      answer = await request.run({ ...bot, surface, note: (id) => (invite = id) });
    } catch (error) {
      answer = { lines: [errorLine(error)], outcome: failed(error) };
    }
    outcome = answer.outcome ?? 'ok';
    try {
      if (answer.lines) await surface.reply(answer.lines);
    } finally {
      await surface.end(!outcome.startsWith('failed'));
    }
    if (answer.after) void answer.after();
  } catch (error) {
    outcome = failed(error);
    throw error;
  } finally {
    bot.log.info(
      {
        ...surface.logFields,
        user: surface.userId,
        command: request.logAs ?? request.action,
        ...(invite ? { invite: invite.slice(0, 40) } : {}),
        outcome,
        ms: Date.now() - started,
      },
      'command',
    );
  }
}

function allowed<W extends Record<string, string>>(
  actor: Actor,
  request: CommandRequest<W>,
  allow: Partial<Record<BotAction, Allowlist>>,
): boolean {
  const byMinter = request.minterId !== undefined && mayCancel(actor, request.minterId);
  return request.minterOnly ? byMinter : byMinter || mayDo(actor, request.action, allow);
}

function failed(error: unknown): string {
  return `failed ${(error as { code?: string }).code ?? 'INTERNAL'}`;
}
