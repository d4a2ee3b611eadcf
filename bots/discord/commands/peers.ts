import { InteractionContextType } from 'discord.js';
import { listPeers } from '../../core/commands/peers.js';
import { MANAGE_GUILD, type SlashCommand } from './slash-command.js';

/** /peers: the agent's paired peers. */
export const peers = {
  data: {
    name: 'peers',
    description: 'List this agent’s paired peers',
    default_member_permissions: MANAGE_GUILD,
    contexts: [InteractionContextType.Guild],
  },
  request: () => ({ action: 'peers', run: listPeers }),
} as const satisfies SlashCommand;
