import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { Changes } from '../changes.js';

/**
 * A protocol-faithful fake of the parts of Discord a bot uses, written from Discord's public API
 * docs (Gateway v10, Interactions, Channel messages): the real discord.js connects to it
 * unmodified through `rest.api` and the gateway URL that `GET /gateway/bot` returns.
 *
 *  - Gateway: HELLO (op 10) → IDENTIFY (op 2, token checked) → READY dispatch; heartbeats
 *    (op 1) answered with HEARTBEAT_ACK (op 11); dispatches carry increasing sequence numbers.
 *  - REST (`/api/v10`): `GET /gateway/bot`, command registration (global and guild `PUT`),
 *    interaction callbacks (types 4, 5, 6, 7), the original response and follow-ups through
 *    webhooks, and channel messages with multipart attachments (`payload_json` + `files[n]`).
 *  - `Authorization: Bot <token>` is required on bot routes; interaction and webhook routes are
 *    authorized by the interaction token, as on Discord.
 *  - Rate limits on demand (`rateLimitNext`): HTTP 429 with `Retry-After`, the `X-RateLimit-*`
 *    headers and the JSON body `{ message, retry_after, global, code }` of the Rate Limits page.
 */

export interface FakeUser {
  readonly id: string;
  readonly username: string;
  /** Guild permission bits (decimal string), e.g. Manage Server is 1 << 5. */
  readonly permissions?: string;
  readonly roles?: string[];
}

export interface FakeApp {
  readonly id: string;
  readonly token: string;
  readonly username: string;
}

export interface StoredMessage {
  id: string;
  channel_id: string;
  author: { id: string; username: string; bot: boolean };
  content: string;
  embeds: unknown[];
  components: unknown[];
  attachments: { id: string; filename: string; size: number; content_type?: string }[];
  flags: number;
  edits: number;
  /** How it was made: a channel post, an interaction response or a follow-up. */
  via: 'channel' | 'interaction' | 'followup';
  interactionToken?: string;
}

/** An application command as registered (the fields the client's checks use). */
interface RegisteredCommand {
  readonly name: string;
  readonly options?: readonly { name: string; required?: boolean; max_length?: number }[];
}

interface PendingInteraction {
  readonly app: FakeApp;
  readonly id: string;
  readonly token: string;
  readonly channelId: string;
  responded: boolean;
  original: StoredMessage | null;
}

const snowflake = (() => {
  let n = 0n;
  return () => String((BigInt(Date.now() - 1420070400000) << 22n) + n++);
})();

export const PERMISSIONS = { manageGuild: String(1n << 5n), none: '0' };
/** Channel permission bits (Discord's Permissions page). */
export const CHANNEL_BITS = {
  viewChannel: 1n << 10n,
  sendMessages: 1n << 11n,
  embedLinks: 1n << 14n,
  attachFiles: 1n << 15n,
} as const;
const DEFAULT_APP_BITS = CHANNEL_BITS.viewChannel | CHANNEL_BITS.sendMessages | CHANNEL_BITS.attachFiles;

export class FakeDiscord {
  readonly guildId = snowflake();
  readonly channelId = snowflake();
  readonly messages = new Map<string, StoredMessage>();
  /** Registered commands by application and scope: `<app id>:guild:<guild id>` or `<app id>:global`. */
  readonly commands = new Map<string, unknown[]>();
  /** Every REST call, for assertions: method, path (without /api/v10) and parsed body. */
  readonly calls: { method: string; path: string; body: unknown }[] = [];
  private readonly interactions = new Map<string, PendingInteraction>();
  private readonly sessions = new Map<string, { socket: WebSocket; seq: number }>();
  private readonly apps = new Map<string, FakeApp>();
  private readonly server: Server;
  private readonly gateway: WebSocketServer;
  private readonly changes = new Changes('fake Discord');
  private readonly limits: { method: string; path: RegExp; seconds: number }[] = [];
  /** Each app's permissions in the channel (what interactions report as app_permissions). */
  private readonly appBits = new Map<string, bigint>();
  /** The next channel post of an app is refused with 403 50013 although app_permissions allow it. */
  private readonly refuseNextPost = new Set<string>();
  /** When each 429 was sent, by path: the retry must come after it plus Retry-After. */
  readonly limited: { path: string; at: number; seconds: number }[] = [];
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: error.message, code: 0 }));
      });
    });
    this.gateway = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) return socket.destroy();
      this.gateway.handleUpgrade(req, socket, head, (ws) => this.onGateway(ws, req));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const client of this.gateway.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The REST base discord.js should use: `rest: { api }`. */
  get api(): string {
    return `${this.url}/api`;
  }

  addApp(username: string): FakeApp {
    const app = {
      id: snowflake(),
      token: `${randomBytes(8).toString('hex')}.fake.${randomBytes(8).toString('hex')}`,
      username,
    };
    this.apps.set(app.token, app);
    return app;
  }

  /** The next `method` request whose path matches gets a 429 asking to retry after `seconds`. */
  rateLimitNext(method: string, path: RegExp, seconds: number): void {
    this.limits.push({ method, path, seconds });
  }

  /** Sets the app's permissions in the channel: interactions report them, posts are checked against them. */
  setAppPermissions(app: FakeApp, bits: bigint): void {
    this.appBits.set(app.id, bits);
  }

  /** The app's next channel post gets 403 Missing Permissions (an overwrite changed meanwhile). */
  refuseNextChannelPost(app: FakeApp): void {
    this.refuseNextPost.add(app.id);
  }

  /** A moderator deletes a message: from now on it is 404 Unknown Message (10008). */
  deleteMessage(message: StoredMessage): void {
    this.messages.delete(message.id);
    this.changed();
  }

  /** True once the app's bot has identified on the gateway. */
  connected(app: FakeApp): boolean {
    return this.sessions.has(app.id);
  }

  /** Resolves when `probe` holds (checked after every REST call or gateway event). */
  until<T>(probe: () => T | undefined | false, what: string, ms = 15_000): Promise<T> {
    return this.changes.until(probe, what, ms);
  }

  private changed(): void {
    this.changes.changed();
  }

  // ---- gateway -------------------------------------------------------------------------------

  private onGateway(ws: WebSocket, req: IncomingMessage): void {
    const query = new URL(req.url!, 'http://x').searchParams;
    if (query.get('v') !== '10' || query.get('encoding') !== 'json') {
      ws.close(4012, 'Invalid API version');
      return;
    }
    const send = (payload: object) => ws.send(JSON.stringify(payload));
    send({ op: 10, d: { heartbeat_interval: 45_000 }, s: null, t: null });
    let app: FakeApp | undefined;
    ws.on('message', (raw) => {
      const payload = JSON.parse(String(raw)) as { op: number; d: Record<string, unknown> | number | null };
      if (payload.op === 1) {
        send({ op: 11, d: null, s: null, t: null });
        return;
      }
      if (payload.op === 2) {
        const d = payload.d as { token?: string; intents?: number };
        const token = String(d.token ?? '').replace(/^Bot /, '');
        app = this.apps.get(token);
        if (!app) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        const session = { socket: ws, seq: 0 };
        this.sessions.set(app.id, session);
        const sessionId = randomBytes(16).toString('hex');
        this.dispatch(app, 'READY', {
          v: 10,
          user: {
            id: app.id,
            username: app.username,
            discriminator: '0',
            global_name: null,
            avatar: null,
            bot: true,
            flags: 0,
          },
          guilds: [],
          session_id: sessionId,
          resume_gateway_url: `${this.url.replace('http', 'ws')}/gateway`,
          application: { id: app.id, flags: 0 },
          private_channels: [],
          relationships: [],
          presences: [],
          user_settings: {},
          guild_join_requests: [],
          geo_ordered_rtc_regions: [],
        });
        this.changed();
      }
    });
    ws.on('close', () => {
      if (app && this.sessions.get(app.id)?.socket === ws) this.sessions.delete(app.id);
    });
  }

  private dispatch(app: FakeApp, event: string, data: unknown): void {
    const session = this.sessions.get(app.id);
    if (!session) throw new Error(`${app.username} is not connected to the gateway`);
    session.seq++;
    session.socket.send(JSON.stringify({ op: 0, t: event, s: session.seq, d: data }));
  }

  private member(user: FakeUser) {
    return {
      user: {
        id: user.id,
        username: user.username,
        discriminator: '0',
        global_name: user.username,
        avatar: null,
      },
      roles: user.roles ?? [],
      permissions: user.permissions ?? PERMISSIONS.none,
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      nick: null,
      avatar: null,
    };
  }

  private baseInteraction(app: FakeApp, user: FakeUser, type: number) {
    const id = snowflake();
    const token = `itk-${randomBytes(12).toString('hex')}`;
    this.interactions.set(token, {
      app,
      id,
      token,
      channelId: this.channelId,
      responded: false,
      original: null,
    });
    return {
      id,
      token,
      application_id: app.id,
      type,
      guild_id: this.guildId,
      channel_id: this.channelId,
      channel: { id: this.channelId, type: 0, guild_id: this.guildId, name: 'general', permissions: '0' },
      member: this.member(user),
      app_permissions: String(this.appBits.get(app.id) ?? DEFAULT_APP_BITS),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      version: 1,
    };
  }

  /** A user runs `/name options…` (a CHAT_INPUT application command) in the guild channel. */
  slashCommand(
    app: FakeApp,
    user: FakeUser,
    name: string,
    options: Record<string, string | number | boolean> = {},
  ): string {
    const types: Record<string, number> = { string: 3, number: 4, boolean: 5 };
    this.checkOptions(app, name, options);
    const interaction = {
      ...this.baseInteraction(app, user, 2),
      data: {
        id: snowflake(),
        name,
        type: 1,
        guild_id: this.guildId,
        options: Object.entries(options).map(([key, value]) => ({
          name: key,
          type: typeof value === 'number' ? 4 : types[typeof value],
          value,
        })),
      },
    };
    this.dispatch(app, 'INTERACTION_CREATE', interaction);
    return interaction.token;
  }

  /**
   * Once an application registered its commands, Discord's client sends only what they define:
   * a command it has, options it declares, strings within their `max_length`. A test sending
   * anything else fails here, so the command definitions are part of what the tests check.
   */
  private checkOptions(app: FakeApp, name: string, options: Record<string, string | number | boolean>): void {
    const registered = (this.commands.get(`${app.id}:guild:${this.guildId}`) ??
      this.commands.get(`${app.id}:global`)) as RegisteredCommand[] | undefined;
    if (!registered) return;
    const command = registered.find((c) => c.name === name);
    if (!command) throw new Error(`${app.username} registered no /${name} command`);
    for (const [key, value] of Object.entries(options)) {
      const option = command.options?.find((o) => o.name === key);
      if (!option) throw new Error(`/${name} has no ${key} option`);
      if (typeof value === 'string' && option.max_length !== undefined && value.length > option.max_length)
        throw new Error(`/${name} ${key} is at most ${option.max_length} characters`);
    }
    for (const option of command.options ?? [])
      if (option.required && !(option.name in options)) throw new Error(`/${name} needs ${option.name}`);
  }

  /** A user presses a button (custom id) on one of the app's messages. */
  pressButton(app: FakeApp, user: FakeUser, message: StoredMessage, customId: string): string {
    const interaction = {
      ...this.baseInteraction(app, user, 3),
      data: { custom_id: customId, component_type: 2 },
      message: this.messageJson(message),
    };
    this.dispatch(app, 'INTERACTION_CREATE', interaction);
    return interaction.token;
  }

  /** The message an interaction produced (its original response), once there is one. */
  responseTo(token: string): StoredMessage | null {
    return this.interactions.get(token)?.original ?? null;
  }

  /** Follow-up messages of an interaction. */
  followUpsOf(token: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.via === 'followup' && m.interactionToken === token);
  }

  channelMessages(app: FakeApp): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.via === 'channel' && m.author.id === app.id);
  }

  private messageJson(m: StoredMessage) {
    return {
      id: m.id,
      channel_id: m.channel_id,
      guild_id: this.guildId,
      author: { ...m.author, discriminator: '0', avatar: null, global_name: null },
      content: m.content,
      embeds: m.embeds,
      components: m.components,
      attachments: m.attachments.map((a) => ({
        ...a,
        url: `${this.url}/attachments/${a.id}`,
        proxy_url: `${this.url}/attachments/${a.id}`,
      })),
      flags: m.flags,
      type: 0,
      timestamp: new Date().toISOString(),
      edited_timestamp: m.edits > 0 ? new Date().toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      pinned: false,
    };
  }

  // ---- REST ----------------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    const match = url.pathname.match(/^\/api\/v10(\/.*)$/);
    const json = (status: number, body?: unknown) => {
      if (body === undefined) {
        res.writeHead(status);
        res.end();
      } else {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      }
      this.changed();
    };
    if (!match) return json(404, { message: '404: Not Found', code: 0 });
    const path = decodeURIComponent(match[1]!);
    const body = await readBody(req);
    this.calls.push({ method: req.method!, path, body: body.json });
    const limit = this.limits.findIndex((l) => l.method === req.method && l.path.test(path));
    if (limit >= 0) {
      const { seconds } = this.limits.splice(limit, 1)[0]!;
      this.limited.push({ path, at: Date.now(), seconds });
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(seconds),
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset-after': String(seconds),
        'x-ratelimit-bucket': 'fakebucket',
        'x-ratelimit-scope': 'user',
      });
      res.end(
        JSON.stringify({
          message: 'You are being rate limited.',
          retry_after: seconds,
          global: false,
          code: 0,
        }),
      );
      this.changed();
      return;
    }
    const botApp = this.apps.get(String(req.headers.authorization ?? '').replace(/^Bot /, ''));
    let m: RegExpMatchArray | null;

    if (req.method === 'GET' && path === '/gateway/bot') {
      if (!botApp) return json(401, { message: '401: Unauthorized', code: 0 });
      return json(200, {
        url: `${this.url.replace('http', 'ws')}/gateway`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    m = path.match(/^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/);
    if (m && req.method === 'PUT') {
      if (!botApp || botApp.id !== m[1]) return json(401, { message: '401: Unauthorized', code: 0 });
      const list = (body.json as { name: string }[]).map((c) => ({
        ...c,
        id: snowflake(),
        application_id: m![1],
        version: snowflake(),
      }));
      this.commands.set(`${m[1]}:${m[2] ? `guild:${m[2]}` : 'global'}`, list);
      return json(200, list);
    }
    m = path.match(/^\/interactions\/(\d+)\/([^/]+)\/callback$/);
    if (m && req.method === 'POST') {
      const interaction = this.interactions.get(m[2]!);
      if (!interaction || interaction.id !== m[1])
        return json(404, { message: 'Unknown interaction', code: 10062 });
      if (interaction.responded)
        return json(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      interaction.responded = true;
      const callback = body.json as { type: number; data?: Record<string, unknown> };
      if (callback.type === 4 || callback.type === 5) {
        interaction.original = this.store(
          interaction.app,
          interaction.channelId,
          callback.data ?? {},
          body.files,
          'interaction',
          interaction.token,
        );
        if (callback.type === 5) interaction.original.content = '';
      }
      if (url.searchParams.get('with_response') === 'true') {
        return json(200, {
          interaction: {
            id: interaction.id,
            type: 2,
            activity_instance_id: null,
            response_message_id: interaction.original?.id,
            response_message_loading: callback.type === 5,
            response_message_ephemeral: false,
          },
          resource: interaction.original
            ? { type: callback.type, message: this.messageJson(interaction.original) }
            : { type: callback.type },
        });
      }
      return json(204);
    }
    m = path.match(/^\/webhooks\/(\d+)\/([^/]+)\/messages\/(@original|\d+)$/);
    if (m) {
      const interaction = this.interactions.get(m[2]!);
      if (!interaction) return json(404, { message: 'Unknown Webhook', code: 10015 });
      const target = m[3] === '@original' ? interaction.original : (this.messages.get(m[3]!) ?? null);
      if (!target) return json(404, { message: 'Unknown Message', code: 10008 });
      if (req.method === 'GET') return json(200, this.messageJson(target));
      if (req.method === 'PATCH')
        return json(
          200,
          this.messageJson(this.edit(target, body.json as Record<string, unknown>, body.files)),
        );
      if (req.method === 'DELETE') {
        this.messages.delete(target.id);
        return json(204);
      }
    }
    m = path.match(/^\/webhooks\/(\d+)\/([^/]+)$/);
    if (m && req.method === 'POST') {
      const interaction = this.interactions.get(m[2]!);
      if (!interaction) return json(404, { message: 'Unknown Webhook', code: 10015 });
      const message = this.store(
        interaction.app,
        interaction.channelId,
        body.json as Record<string, unknown>,
        body.files,
        'followup',
        interaction.token,
      );
      return json(200, this.messageJson(message));
    }
    m = path.match(/^\/channels\/(\d+)\/messages$/);
    if (m && req.method === 'POST') {
      if (!botApp) return json(401, { message: '401: Unauthorized', code: 0 });
      if (m[1] !== this.channelId) return json(404, { message: 'Unknown Channel', code: 10003 });
      const bits = this.appBits.get(botApp.id) ?? DEFAULT_APP_BITS;
      const needs =
        CHANNEL_BITS.viewChannel |
        CHANNEL_BITS.sendMessages |
        (body.files.length > 0 ? CHANNEL_BITS.attachFiles : 0n);
      if ((bits & needs) !== needs || this.refuseNextPost.delete(botApp.id))
        return json(403, { message: 'Missing Permissions', code: 50013 });
      return json(
        200,
        this.messageJson(
          this.store(botApp, m[1]!, body.json as Record<string, unknown>, body.files, 'channel'),
        ),
      );
    }
    m = path.match(/^\/channels\/(\d+)\/messages\/(\d+)$/);
    if (m) {
      if (!botApp) return json(401, { message: '401: Unauthorized', code: 0 });
      const target = this.messages.get(m[2]!);
      if (!target || target.channel_id !== m[1])
        return json(404, { message: 'Unknown Message', code: 10008 });
      if (target.author.id !== botApp.id)
        return json(403, { message: 'Cannot edit a message authored by another user', code: 50005 });
      if (req.method === 'GET') return json(200, this.messageJson(target));
      if (req.method === 'PATCH')
        return json(
          200,
          this.messageJson(this.edit(target, body.json as Record<string, unknown>, body.files)),
        );
    }
    return json(404, { message: '404: Not Found', code: 0 });
  }

  private store(
    app: FakeApp,
    channelId: string,
    data: Record<string, unknown>,
    files: UploadedFile[],
    via: StoredMessage['via'],
    interactionToken?: string,
  ): StoredMessage {
    const message: StoredMessage = {
      id: snowflake(),
      channel_id: channelId,
      author: { id: app.id, username: app.username, bot: true },
      content: String(data.content ?? ''),
      embeds: (data.embeds as unknown[]) ?? [],
      components: (data.components as unknown[]) ?? [],
      attachments: files.map((f) => ({
        id: snowflake(),
        filename: f.filename,
        size: f.data.length,
        content_type: f.contentType,
      })),
      flags: Number(data.flags ?? 0),
      edits: 0,
      via,
      ...(interactionToken ? { interactionToken } : {}),
    };
    this.messages.set(message.id, message);
    return message;
  }

  private edit(target: StoredMessage, data: Record<string, unknown>, files: UploadedFile[]): StoredMessage {
    if (data.content !== undefined) target.content = String(data.content ?? '');
    if (data.embeds !== undefined) target.embeds = (data.embeds as unknown[]) ?? [];
    if (data.components !== undefined) target.components = (data.components as unknown[]) ?? [];
    if (data.attachments !== undefined) {
      const kept = new Set((data.attachments as { id: string }[]).map((a) => String(a.id)));
      target.attachments = target.attachments.filter((a) => kept.has(a.id));
    }
    for (const f of files)
      target.attachments.push({
        id: snowflake(),
        filename: f.filename,
        size: f.data.length,
        content_type: f.contentType,
      });
    target.edits++;
    return target;
  }
}

interface UploadedFile {
  readonly filename: string;
  readonly contentType: string;
  readonly data: Buffer;
}

/** Reads a JSON or multipart/form-data body (payload_json plus files[n]), at most 8 MiB. */
async function readBody(req: IncomingMessage): Promise<{ json: unknown; files: UploadedFile[] }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 8 * 1024 * 1024) throw new Error('request entity too large');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('multipart/form-data')) {
    const boundary = type.match(/boundary=(?:"([^"]+)"|([^;]+))/);
    const marker = Buffer.from(`--${boundary?.[1] ?? boundary?.[2]}`);
    const files: UploadedFile[] = [];
    let json: unknown = {};
    let start = raw.indexOf(marker);
    while (start >= 0) {
      const next = raw.indexOf(marker, start + marker.length);
      if (next < 0) break;
      const part = raw.subarray(start + marker.length + 2, next - 2); // skip CRLF after marker, before next
      const split = part.indexOf('\r\n\r\n');
      const headers = part.subarray(0, split).toString('utf8');
      const content = part.subarray(split + 4);
      const name = headers.match(/name="([^"]+)"/)?.[1];
      const filename = headers.match(/filename="([^"]+)"/)?.[1];
      if (name === 'payload_json') json = JSON.parse(content.toString('utf8'));
      else if (filename) {
        files.push({
          filename,
          contentType: headers.match(/content-type:\s*([^\r\n]+)/i)?.[1] ?? 'application/octet-stream',
          data: Buffer.from(content),
        });
      }
      start = next;
    }
    return { json, files };
  }
  return { json: raw.length > 0 ? JSON.parse(raw.toString('utf8')) : null, files: [] };
}
