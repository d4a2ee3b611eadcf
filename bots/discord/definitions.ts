import { accept } from './commands/accept.js';
import { cancel } from './commands/cancel.js';
import { help } from './commands/help.js';
import { invite } from './commands/invite.js';
import { invites } from './commands/invites.js';
import { peers } from './commands/peers.js';
import type { SlashCommand } from './commands/slash-command.js';

/** The slash commands by name: each a definition (data) and what it asks of the bot core. */
export const SLASH_COMMANDS: Readonly<Record<string, SlashCommand>> = {
  invite,
  accept,
  invites,
  cancel,
  peers,
  help,
};

/** The definitions `--register` deploys (Discord's application command JSON). */
export const COMMAND_DEFINITIONS = Object.values(SLASH_COMMANDS).map((command) => command.data);
