import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  type ButtonInteraction,
  Client,
  GatewayIntentBits,
  type Interaction,
  MessageFlags,
  Routes,
} from 'discord.js';
import type { Logger } from 'pino';
import { AgentLink } from '../core/agent-link.js';
import { cancelInvite } from '../core/commands/cancel.js';
import { startHealthServer } from '../core/health.js';
import { LiveInvites } from '../core/live-invites.js';
import { runCommand } from '../core/run-command.js';
import { startupError } from '../core/startup-error.js';
import { helpText } from './commands/help.js';
import type { DiscordConfig } from './config.js';
import { COMMAND_DEFINITIONS, SLASH_COMMANDS } from './definitions.js';
import { InteractionSurface } from './interaction-surface.js';
import { CANCEL_PREFIX, cancelButtonTarget, editInviteMessage, type Where } from './invite-message.js';

/**
 * The Discord bot: discord.js v14 with the Guilds intent only. `/invite` defers at once, asks the
 * agent for an invite and posts it into the channel (a channel message, not the interaction reply,
 * so it stays editable past the 15-minute interaction token) with a QR image and a Cancel button;
 * `invite.progress` notifications from the agent edit that message, also after a bot restart (the
 * posted invites are kept in `<stateDir>/discord-posts.json`).
 */
export class DiscordBot {
  readonly client: Client;
  readonly agent: AgentLink;
  private readonly stateFile: string;
  private live: LiveInvites<Where> | null = null;
  private health: Server | null = null;

  constructor(
    private readonly config: DiscordConfig,
    private readonly token: string,
    paths: { readonly agentSocket: string; readonly stateDir: string },
    private readonly log: Logger,
  ) {
    this.client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.apiUrl } });
    this.agent = new AgentLink(paths.agentSocket, 10_000, log);
    this.stateFile = join(paths.stateDir, 'discord-posts.json');
    this.client.on('interactionCreate', (interaction) => {
      this.onInteraction(interaction).catch((error: Error) =>
        this.log.warn({ err: error.message }, 'handling an interaction failed'),
      );
    });
  }

  /** The posted invites and their live edits (after start). */
  get invites(): LiveInvites<Where> {
    if (!this.live) throw new Error('start the bot first');
    return this.live;
  }

  async start(): Promise<void> {
    this.live = await LiveInvites.open<Where>(
      this.stateFile,
      this.agent,
      (entry) => editInviteMessage(this.client, entry),
      this.log,
    );
    // Log in first: catching up on posted invites (when the agent link connects) edits messages.
    await this.client.login(this.token).catch((error: unknown) => {
      throw startupError(error, 'Discord', this.config.apiUrl);
    });
    await this.agent.start();
    if (this.config.healthPort > 0) {
      this.health = await startHealthServer(this.config.healthPort, async () => {
        const gateway = this.client.isReady();
        const agent = await this.agent.answers();
        return { ok: gateway && agent, gateway, agent };
      });
    }
    this.log.info({ user: this.client.user?.tag }, 'discord bot ready');
  }

  /** Ready on the gateway and the agent answers. */
  async healthy(): Promise<boolean> {
    return this.client.isReady() && (await this.agent.answers());
  }

  /**
   * A one-shot `--register`: logs in, deploys the commands, logs out. It neither connects to the
   * agent nor takes interactions, so it says what it did and nothing else.
   */
  async registerOnly(guildId?: string): Promise<number> {
    await this.client.login(this.token).catch((error: unknown) => {
      throw startupError(error, 'Discord', this.config.apiUrl);
    });
    try {
      const count = await this.register(guildId);
      this.log.info(
        { count, scope: guildId ? `guild ${guildId}` : 'global' },
        'registered the slash commands',
      );
      return count;
    } finally {
      await this.client.destroy();
    }
  }

  /** Registers the commands: in one guild (instant) or globally. */
  async register(guildId?: string): Promise<number> {
    const appId = this.client.application?.id ?? this.client.user?.id;
    if (!appId) throw new Error('log in first');
    const route = guildId
      ? Routes.applicationGuildCommands(appId, guildId)
      : Routes.applicationCommands(appId);
    const result = (await this.client.rest.put(route, { body: COMMAND_DEFINITIONS })) as unknown[];
    return result.length;
  }

  /** Stops taking interactions, lets the edits under way finish, then disconnects. */
  async stop(): Promise<void> {
    this.health?.close();
    this.client.removeAllListeners('interactionCreate');
    await this.live?.idle();
    this.agent.close();
    await this.client.destroy();
  }

  /** Runs an interaction; a slash command or a Cancel press goes through the bot core's flow. */
  private async onInteraction(interaction: Interaction): Promise<void> {
    if (interaction.isButton() && interaction.customId.startsWith(CANCEL_PREFIX)) {
      await this.onCancelButton(interaction);
      return;
    }
    if (!interaction.isChatInputCommand()) return;
    const command = SLASH_COMMANDS[interaction.commandName];
    if (!command?.request) {
      const content = command ? helpText() : 'Unknown command.';
      await interaction.reply({ content, flags: MessageFlags.Ephemeral });
      return;
    }
    const surface = new InteractionSurface(interaction, this.client, this.log);
    await runCommand(this.core, surface, command.request(interaction, this.config));
  }

  /** The bot as its command flow sees it. */
  private get core() {
    return { agent: this.agent, invites: this.invites, log: this.log, allow: this.config.allow };
  }

  /** The Cancel button: only the minter or a member with Manage Server. */
  private async onCancelButton(interaction: ButtonInteraction): Promise<void> {
    const { inviteId, minterId } = cancelButtonTarget(interaction.customId);
    const surface = new InteractionSurface(interaction, this.client, this.log);
    await runCommand(this.core, surface, {
      action: 'cancel',
      logAs: 'cancel-button',
      invite: inviteId,
      minterOnly: true,
      ...(inviteId && minterId ? { minterId } : {}),
      run: async (context) => {
        // A message the bot no longer remembers (its state file was lost): adopt it, so the
        // cancellation notice still edits it.
        await this.invites.adopt({
          where: { channelId: interaction.channelId, messageId: interaction.message.id },
          minterId,
          view: {
            invite: { id: inviteId, expiresAt: new Date().toISOString(), usesLeft: 0 },
            minter: `<@${minterId}>`,
            state: 'open',
          },
        });
        return cancelInvite(context, inviteId);
      },
    });
  }
}
