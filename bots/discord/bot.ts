import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  type ChatInputCommandInteraction,
  Client,
  DiscordAPIError,
  GatewayIntentBits,
  type Interaction,
  MessageFlags,
  PermissionFlagsBits,
  Routes,
  time,
} from 'discord.js';
import type { Logger } from 'pino';
import type { InviteCreated } from '../../src/rpc/protocol.js';
import { AgentLink, followAccept } from '../core/agent-link.js';
import { acceptRelay, acceptText, helpLines, inviteParams } from '../core/commands.js';
import { startHealthServer } from '../core/health.js';
import { LiveInvites, MessageGone } from '../core/live-invites.js';
import { type Actor, mayCancel, mayDo } from '../core/policy.js';
import type { PostedInvite } from '../core/posted-invites.js';
import { qrPng } from '../core/qr-png.js';
import {
  acceptLine,
  errorLine,
  type InviteView,
  inviteLines,
  inviteListLines,
  peerListLines,
} from '../core/render.js';
import { startupError } from '../core/startup-error.js';
import type { DiscordConfig } from './config.js';
import { CANCEL_PREFIX, COMMAND_DEFINITIONS } from './definitions.js';
import { POST_NEEDS } from './permissions.js';

/** Where an invite's channel message is, to edit it when the invite changes. */
type Where = { channelId: string; messageId: string };

/** How long a pending /accept is followed: interaction tokens live 15 minutes. */
const ACCEPT_FOLLOW_MS = 14 * 60_000;

/** Discord's answer for a message or channel that no longer exists, or that the bot can no longer see. */
function isGone(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.status === 404 || error.code === 10008 || error.code === 10003 || error.code === 50001)
  );
}

/** A message body for the REST API; mentions in it are shown but never ping anyone. */
function restMessage(body: { content: string; components: { toJSON(): unknown }[] }) {
  return {
    content: body.content,
    components: body.components.map((c) => c.toJSON()),
    allowed_mentions: { parse: [] },
  };
}

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
      (entry) => this.editPosted(entry),
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

  private actor(interaction: ChatInputCommandInteraction | ButtonInteraction): Actor {
    const roles = interaction.member?.roles;
    const roleIds = Array.isArray(roles) ? roles : roles ? [...roles.cache.keys()] : [];
    return {
      userId: interaction.user.id,
      roleIds,
      isModerator: interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false,
    };
  }

  /** What one command did, for its log line. */
  private readonly notes = new WeakMap<Interaction, { invite?: string; outcome?: string }>();

  private note(interaction: Interaction, note: { invite?: string; outcome?: string }): void {
    this.notes.set(interaction, { ...this.notes.get(interaction), ...note });
  }

  /** Runs an interaction and logs it as one structured line (never the invite's link or code). */
  private async onInteraction(interaction: Interaction): Promise<void> {
    const started = Date.now();
    try {
      await this.dispatch(interaction);
    } catch (error) {
      this.note(interaction, { outcome: `failed ${(error as { code?: string }).code ?? 'INTERNAL'}` });
      throw error;
    } finally {
      if (interaction.isChatInputCommand() || interaction.isButton()) {
        const note = this.notes.get(interaction) ?? {};
        this.log.info(
          {
            chat: 'discord',
            channel: interaction.channelId,
            user: interaction.user.id,
            command: interaction.isButton() ? 'cancel-button' : interaction.commandName,
            ...(note.invite ? { invite: note.invite } : {}),
            outcome: note.outcome ?? 'ok',
            ms: Date.now() - started,
          },
          'command',
        );
      }
    }
  }

  private async dispatch(interaction: Interaction): Promise<void> {
    if (interaction.isButton() && interaction.customId.startsWith(CANCEL_PREFIX)) {
      await this.onCancelButton(interaction);
      return;
    }
    if (!interaction.isChatInputCommand()) return;
    if (interaction.commandName === 'help') {
      await interaction.reply({ content: this.helpText(), flags: MessageFlags.Ephemeral });
      return;
    }
    const name = interaction.commandName as 'invite' | 'accept' | 'invites' | 'cancel' | 'peers';
    if (!mayDo(this.actor(interaction), name, this.config.allow)) {
      this.note(interaction, { outcome: 'refused' });
      await interaction.reply({
        content: 'Sorry, you are not allowed to use this command here.',
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    switch (name) {
      case 'invite':
        return this.onInvite(interaction);
      case 'accept':
        return this.onAccept(interaction);
      case 'invites':
        return this.onList(interaction);
      case 'cancel':
        return this.onCancel(interaction, interaction.options.getString('id', true));
      case 'peers':
        return this.onPeers(interaction);
      default:
        await interaction.reply({ content: 'Unknown command.', flags: MessageFlags.Ephemeral });
    }
  }

  private helpText(): string {
    return helpLines(
      {
        invite: '`/invite [ttl] [uses] [format] [note] [private]`',
        accept: '`/accept invite:<link or code> [relay:<url>]`',
        invites: '`/invites`',
        cancel: '`/cancel id:<id>` (or the invite’s Cancel button)',
        peers: '`/peers`',
      },
      'members with Manage Server, or the allowlists in the bot’s config',
    ).join('\n');
  }

  private async onInvite(interaction: ChatInputCommandInteraction): Promise<void> {
    const privately = interaction.options.getBoolean('private') ?? this.config.privateInvites;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    // Before anything is minted: can the bot post here at all? (app_permissions, from Discord)
    const missing = privately
      ? []
      : POST_NEEDS.filter(([bit]) => interaction.appPermissions && !interaction.appPermissions.has(bit));
    if (missing.length > 0) {
      const names = missing.map(([, name]) => name);
      this.note(interaction, { outcome: 'failed missing permissions' });
      this.log.info({ channel: interaction.channelId, missing: names }, 'cannot post an invite here');
      await interaction.editReply({
        content: `I cannot post invites in <#${interaction.channelId}>: I need the ${names.join(', ')} permission${names.length > 1 ? 's' : ''} there. Ask a server admin to grant ${names.length > 1 ? 'them' : 'it'}, or use \`/invite private:true\` to get an invite only you can see.`,
      });
      return;
    }
    let invite: InviteCreated;
    let params: ReturnType<typeof inviteParams>;
    try {
      params = inviteParams({
        ttl: interaction.options.getString('ttl') ?? undefined,
        uses: interaction.options.getInteger('uses') ?? undefined,
        format: interaction.options.getString('format') ?? undefined,
        note: interaction.options.getString('note') ?? undefined,
      });
      invite = await this.agent.call('invite.create', {
        ...params,
        creator: {
          kind: 'bot',
          chat: 'discord',
          user: `${interaction.user.username} (${interaction.user.id})`.slice(0, 200),
          ...(interaction.channelId ? { channel: interaction.channelId } : {}),
        },
      });
    } catch (error) {
      this.note(interaction, { outcome: `failed ${(error as { code?: string }).code ?? 'INTERNAL'}` });
      await interaction.editReply({ content: errorLine(error) });
      return;
    }
    this.note(interaction, { invite: invite.id });
    const view: InviteView = {
      invite: { ...invite, ...(params.label ? { label: params.label } : {}) },
      minter: `<@${interaction.user.id}>`,
      state: 'open',
    };
    const body = await this.messageBody(view, interaction.user.id, true);
    if (privately || !interaction.channelId) {
      await interaction.editReply(body);
      return;
    }
    let message: { id: string };
    try {
      message = (await this.client.rest.post(Routes.channelMessages(interaction.channelId), {
        body: restMessage(body),
        files: body.files.map((f) => ({
          name: f.name!,
          data: f.attachment as Buffer,
          contentType: 'image/png',
        })),
      })) as { id: string };
    } catch (error) {
      // Nobody can see the invite: it must not stay live at the agent.
      await this.agent.call('invite.cancel', { id: invite.id }).catch(() => undefined);
      const why =
        error instanceof DiscordAPIError && error.code === 50013
          ? `I am missing a permission in <#${interaction.channelId}> (Discord: Missing Permissions). I need ${POST_NEEDS.map(([, n]) => n).join(', ')} there.`
          : `I could not post it in <#${interaction.channelId}> (${error instanceof Error ? error.message.slice(0, 200) : 'error'}).`;
      this.log.warn(
        { channel: interaction.channelId, invite: invite.id, err: (error as Error).message },
        'posting an invite failed; cancelled it',
      );
      this.note(interaction, { outcome: 'failed post refused' });
      await interaction.editReply({ content: `${why} The invite was cancelled; nothing was posted.` });
      return;
    }
    await this.invites.posted({
      where: { channelId: interaction.channelId, messageId: message.id },
      minterId: interaction.user.id,
      view,
    });
    await interaction.editReply({ content: `Invite \`${invite.id}\` posted in this channel.` });
  }

  private async messageBody(view: InviteView, minterId: string, withQr: boolean) {
    const open = view.state === 'open' || view.state === 'accepted';
    const content = inviteLines(
      view,
      (iso) => {
        const date = new Date(iso);
        return `${time(date, 'f')} (${time(date, 'R')})`;
      },
      (relay) => (relay ? `/accept invite:<the code> relay:${relay}` : '/accept invite:<the link or code>'),
    ).join('\n');
    const components = open
      ? [
          new ActionRowBuilder<ButtonBuilder>().addComponents(
            new ButtonBuilder()
              .setCustomId(`${CANCEL_PREFIX}${view.invite.id}:${minterId}`)
              .setLabel('Cancel')
              .setStyle(ButtonStyle.Danger),
          ),
        ]
      : [];
    const files =
      withQr && view.invite.url
        ? [new AttachmentBuilder(await qrPng(view.invite.url), { name: `pairlink-${view.invite.id}.png` })]
        : [];
    return { content, components, files };
  }

  /**
   * Edits a posted invite. A message a moderator deleted (or a channel that is gone) ends the
   * entry, and cancels the invite: deleting it is a moderator's clear signal that it should not be
   * used, and nobody can see it any more anyway.
   */
  private async editPosted(entry: PostedInvite<Where>): Promise<void> {
    const body = await this.messageBody(entry.view, entry.minterId, false);
    try {
      await this.client.rest.patch(Routes.channelMessage(entry.where.channelId, entry.where.messageId), {
        body: restMessage(body),
      });
    } catch (error) {
      if (!isGone(error)) throw error;
      await this.agent.call('invite.cancel', { id: entry.view.invite.id }).catch(() => undefined);
      throw new MessageGone(`Discord: ${(error as Error).message}`);
    }
  }

  private async onAccept(interaction: ChatInputCommandInteraction): Promise<void> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    try {
      const text = acceptText(interaction.options.getString('invite') ?? undefined);
      const relay = acceptRelay(interaction.options.getString('relay') ?? undefined);
      // The agent answers at once when the invite passed its local checks (form, signature,
      // expiry, relay) and the accept is recorded: only then is "Pairing…" true.
      let result = await this.agent.call('invite.accept', {
        invite: text,
        waitSeconds: 0,
        ...(relay ? { relay } : {}),
      });
      if (result.status !== 'paired') {
        await interaction.editReply({ content: 'Pairing… waiting for the issuer’s agent.' });
        result = await this.agent.call('accept.get', { acceptId: result.acceptId, waitSeconds: 8 });
      }
      this.note(interaction, { invite: result.acceptId, outcome: result.status });
      await interaction.editReply({ content: acceptLine(result) });
      // Still pending: follow it, and edit the reply with the end while the interaction token
      // lives (15 minutes; the follow stops a minute before).
      if (result.status === 'pending') void this.followUp(interaction, result.acceptId);
    } catch (error) {
      await interaction.editReply({ content: errorLine(error) });
    }
  }

  private async followUp(interaction: ChatInputCommandInteraction, acceptId: string): Promise<void> {
    const end = await followAccept(this.agent, acceptId, ACCEPT_FOLLOW_MS);
    if (end === null) return;
    const content =
      end instanceof Error ? `The pairing did not complete. ${errorLine(end)}` : acceptLine(end);
    this.log.info(
      { chat: 'discord', accept: acceptId, outcome: end instanceof Error ? 'failed' : end.status },
      'accept ended',
    );
    await interaction
      .editReply({ content })
      .catch((error: Error) => this.log.warn({ err: error.message }, 'editing the accept reply failed'));
  }

  /** Defers ephemerally, then answers with `produce()`, or with a short error line. */
  private async answer(
    interaction: ChatInputCommandInteraction | ButtonInteraction,
    produce: () => Promise<string>,
  ): Promise<void> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    let content: string;
    try {
      content = await produce();
    } catch (error) {
      this.note(interaction, { outcome: `failed ${(error as { code?: string }).code ?? 'INTERNAL'}` });
      content = errorLine(error);
    }
    await interaction.editReply({ content });
  }

  private onList(interaction: ChatInputCommandInteraction): Promise<void> {
    return this.answer(interaction, async () => {
      const invites = await this.agent.call('invite.list', {});
      return inviteListLines(invites, (iso) => time(new Date(iso), 'R')).join('\n');
    });
  }

  private onPeers(interaction: ChatInputCommandInteraction): Promise<void> {
    return this.answer(interaction, async () => {
      return peerListLines(await this.agent.call('peer.list', {})).join('\n');
    });
  }

  private onCancel(interaction: ChatInputCommandInteraction | ButtonInteraction, id: string): Promise<void> {
    this.note(interaction, { invite: id });
    return this.answer(interaction, async () => {
      await this.agent.call('invite.cancel', { id });
      return `Invite \`${id}\` cancelled.`;
    });
  }

  /** The Cancel button: only the minter or a member with Manage Server. */
  private async onCancelButton(interaction: ButtonInteraction): Promise<void> {
    const [inviteId, minterId] = interaction.customId.slice(CANCEL_PREFIX.length).split(':');
    if (!inviteId || !minterId || !mayCancel(this.actor(interaction), minterId)) {
      await interaction.reply({
        content: 'Only the member who minted this invite (or a server manager) can cancel it.',
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
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
    await this.onCancel(interaction, inviteId);
  }
}
