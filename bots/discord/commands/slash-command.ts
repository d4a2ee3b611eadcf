import type {
  ChatInputCommandInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { CommandRequest } from '../../core/run-command.js';
import type { DiscordConfig } from '../config.js';
import type { Where } from '../invite-message.js';

/**
 * A slash command: its definition as data (deployed by `--register`), and what an interaction
 * with it asks of the bot core. Help has no request: it is answered at once, to anyone.
 */
export interface SlashCommand {
  readonly data: RESTPostAPIChatInputApplicationCommandsJSONBody;
  readonly request?: (
    interaction: ChatInputCommandInteraction,
    config: DiscordConfig,
  ) => CommandRequest<Where>;
}

/**
 * default_member_permissions "32" (Manage Server): members without it do not see the commands
 * unless a server admin grants them, and the bot checks its own allowlists as well.
 */
export const MANAGE_GUILD = String(1 << 5);
