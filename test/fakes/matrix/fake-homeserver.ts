import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Changes } from '../changes.js';

/**
 * A fake Matrix homeserver: the subset of the client-server API (spec v1.x) that matrix-bot-sdk
 * and a test user need, written from the spec. The real matrix-bot-sdk runs against it unmodified.
 *
 *  - Auth: `Authorization: Bearer <token>` (or the deprecated `access_token` query parameter);
 *    M_MISSING_TOKEN / M_UNKNOWN_TOKEN with 401 otherwise.
 *  - whoami, profile, account data (global), filters, joined_rooms, createRoom (room versions up
 *    to 12: from v11 the create event has no `creator`; in v12 the room id is the hash of the
 *    create event and creators are not listed in power levels), invite, join, leave (which
 *    rejects an invite), state (GET one event's content or, with `format=event`, the whole
 *    event; GET all; PUT), send with transaction-id
 *    idempotency, redact (content stripped per the redaction algorithm, roughly), media upload.
 *  - `/sync`: initial (current state plus the last 20 timeline events per joined room, invites as
 *    stripped state) and incremental from `next_batch`, long-polling up to `timeout` ms.
 *  - Power levels are enforced for state events and invites (v12 creators outrank everyone).
 *  - Rate limits on demand (`rateLimitNext`): 429 M_LIMIT_EXCEEDED with `retry_after_ms` and/or a
 *    `Retry-After` header.
 * Errors are `{ errcode, error }` with the spec's status codes.
 */

export interface FakeMatrixUser {
  readonly userId: string;
  readonly token: string;
  displayName: string;
}

export interface MatrixEvent {
  event_id: string;
  type: string;
  sender: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
  room_id: string;
  state_key?: string;
  redacts?: string;
  unsigned?: Record<string, unknown>;
  /** Position in the server's stream (not sent to clients). */
  stream: number;
  /** The sender's transaction id (sent to the sender only). */
  txnId?: string;
}

interface Room {
  readonly id: string;
  readonly version: string;
  readonly events: MatrixEvent[];
  readonly state: Map<string, MatrixEvent>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    /** A `Retry-After` header value (seconds), for 429s. */
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }
}

const stateKeyOf = (type: string, key: string) => `${type}\u0000${key}`;
const MAX_BODY = 8 * 1024 * 1024;

/** One request as the fake saw it. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly at: number;
  status: number;
  /** Who sent it, when its token is known. */
  readonly user: string | undefined;
  /** How it ended: answered, or given up by the client before the answer. */
  ended?: 'answered' | 'aborted';
  /** A /sync long-poll waiting with nothing to deliver: only a new event (or its timeout) answers it. */
  parked?: boolean;
}

export class FakeHomeserver {
  readonly serverName = 'fake.test';
  /** Each request's record, for the handlers that mark it (a parked long-poll). */
  private readonly entries = new WeakMap<IncomingMessage, FakeRequest>();
  readonly users = new Map<string, FakeMatrixUser>();
  readonly rooms = new Map<string, Room>();
  readonly media = new Map<string, { contentType: string; data: Buffer; filename: string | null }>();
  /** Every request: method and path (without the query). */
  readonly requests: FakeRequest[] = [];
  /** When each 429 was sent. */
  readonly limited: { method: string; path: string; at: number; retryAfterMs: number }[] = [];
  private readonly byToken = new Map<string, FakeMatrixUser>();
  private readonly accountData = new Map<string, Map<string, unknown>>();
  private readonly filters = new Map<string, unknown>();
  private readonly txns = new Map<string, string>();
  private readonly failures: { method: string; path: RegExp; status: number; errcode: string }[] = [];
  private readonly limits: {
    method: string;
    path: RegExp;
    retryAfterMs: number;
    how: 'body' | 'header' | 'both';
    token: string | undefined;
  }[] = [];
  private readonly changes = new Changes('fake homeserver');
  private stream = 0;
  /** How far the server's clock is off (its timestamps and ages use now + skew). */
  clockSkewMs = 0;
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) this.send(res, 500, { errcode: 'M_UNKNOWN', error: error.message });
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Registers a user (`@local:fake.test`, or another server's user for allowlist tests). */
  addUser(localpart: string, server = this.serverName, displayName = localpart): FakeMatrixUser {
    const user = {
      userId: `@${localpart}:${server}`,
      token: `syt_${randomBytes(12).toString('hex')}`,
      displayName,
    };
    this.users.set(user.userId, user);
    this.byToken.set(user.token, user);
    return user;
  }

  /** The next request (of `user`, when given) whose method and path match gets a 429. */
  rateLimitNext(
    method: string,
    path: RegExp,
    retryAfterMs: number,
    how: 'body' | 'header' | 'both',
    user?: FakeMatrixUser,
  ): void {
    this.limits.push({ method, path, retryAfterMs, how, token: user?.token });
  }

  /** The next request whose method and path match fails with `status` (a server in trouble). */
  failNext(method: string, path: RegExp, status: number, errcode = 'M_UNKNOWN'): void {
    this.failures.push({ method, path, status, errcode });
  }

  /** Resolves when `probe` holds (checked after every event or request). */
  until<T>(probe: () => T | undefined | false | null, what: string, ms = 15_000): Promise<T> {
    return this.changes.until(probe, what, ms);
  }

  /** A room's timeline as stored (content after redactions and without edits applied). */
  timeline(roomId: string): MatrixEvent[] {
    return this.room(roomId).events;
  }

  /** The content of an event with its latest `m.replace` edit applied, as a client shows it. */
  shown(roomId: string, eventId: string): Record<string, unknown> | undefined {
    const events = this.room(roomId).events;
    const original = events.find((e) => e.event_id === eventId);
    if (!original) return undefined;
    const edits = events.filter((e) => {
      const rel = e.content['m.relates_to'] as { rel_type?: string; event_id?: string } | undefined;
      return rel?.rel_type === 'm.replace' && rel.event_id === eventId && e.sender === original.sender;
    });
    const last = edits.at(-1);
    return last ? (last.content['m.new_content'] as Record<string, unknown>) : original.content;
  }

  /** Delivers an event again in the next syncs (as a glitching server or a federation retry may). */
  redeliver(roomId: string, eventId: string): void {
    const room = this.room(roomId);
    const event = room.events.find((e) => e.event_id === eventId);
    if (!event) throw new Error(`no event ${eventId}`);
    room.events.push({ ...event, stream: ++this.stream });
    this.wake();
  }

  membership(roomId: string, userId: string): string | undefined {
    return this.room(roomId).state.get(stateKeyOf('m.room.member', userId))?.content.membership as
      | string
      | undefined;
  }

  // ---- server-side actions (also used by the HTTP routes) ------------------------------------

  private room(roomId: string): Room {
    const room = this.rooms.get(roomId);
    if (!room) throw new HttpError(404, 'M_NOT_FOUND', 'Unknown room');
    return room;
  }

  private wake(): void {
    this.changes.changed();
  }

  private append(
    room: Room,
    sender: string,
    type: string,
    content: Record<string, unknown>,
    extra: { state_key?: string; redacts?: string; txnId?: string; ts?: number } = {},
  ): MatrixEvent {
    const event: MatrixEvent = {
      event_id: `$${randomBytes(16).toString('base64url')}`,
      type,
      sender,
      content,
      origin_server_ts: extra.ts ?? Date.now() + this.clockSkewMs,
      room_id: room.id,
      stream: ++this.stream,
      ...(extra.state_key !== undefined ? { state_key: extra.state_key } : {}),
      ...(extra.redacts ? { redacts: extra.redacts } : {}),
      ...(extra.txnId ? { txnId: extra.txnId } : {}),
    };
    room.events.push(event);
    if (extra.state_key !== undefined) room.state.set(stateKeyOf(type, extra.state_key), event);
    this.wake();
    return event;
  }

  /** Power level per the spec; room creators in v12 rooms outrank everyone (Infinity). */
  powerLevel(roomId: string, userId: string): number {
    const room = this.room(roomId);
    const create = room.state.get(stateKeyOf('m.room.create', ''))!;
    const creators = [create.sender, ...((create.content.additional_creators as string[]) ?? [])];
    if (Number(room.version) >= 12 && creators.includes(userId)) return Number.POSITIVE_INFINITY;
    const levels = room.state.get(stateKeyOf('m.room.power_levels', ''))?.content;
    if (!levels) return userId === create.sender ? 100 : 0;
    const users = (levels.users as Record<string, number>) ?? {};
    return users[userId] ?? (levels.users_default as number) ?? 0;
  }

  private requireJoined(room: Room, userId: string): void {
    if (this.membership(room.id, userId) !== 'join')
      throw new HttpError(403, 'M_FORBIDDEN', `${userId} is not in the room`);
  }

  createRoom(
    creator: FakeMatrixUser,
    options: {
      room_version?: string;
      name?: string;
      invite?: string[];
      power_level_content_override?: Record<string, unknown>;
      initial_state?: { type: string; state_key?: string; content: Record<string, unknown> }[];
    } = {},
  ): string {
    const version = options.room_version ?? '10';
    const createContent: Record<string, unknown> = { room_version: version };
    if (Number(version) < 11) createContent.creator = creator.userId;
    let id: string;
    if (Number(version) >= 12) {
      const digest = createHash('sha256')
        .update(
          JSON.stringify({ sender: creator.userId, content: createContent, ts: Date.now(), n: this.stream }),
        )
        .digest('base64url');
      id = `!${digest}`;
    } else {
      id = `!${randomBytes(9).toString('base64url')}:${this.serverName}`;
    }
    const room: Room = { id, version, events: [], state: new Map() };
    this.rooms.set(id, room);
    this.append(room, creator.userId, 'm.room.create', createContent, { state_key: '' });
    this.joined(room, creator);
    const users: Record<string, number> = Number(version) >= 12 ? {} : { [creator.userId]: 100 };
    this.append(
      room,
      creator.userId,
      'm.room.power_levels',
      {
        users,
        users_default: 0,
        events_default: 0,
        state_default: 50,
        ban: 50,
        kick: 50,
        redact: 50,
        invite: 0,
        events: {},
        ...options.power_level_content_override,
      },
      { state_key: '' },
    );
    this.append(room, creator.userId, 'm.room.join_rules', { join_rule: 'invite' }, { state_key: '' });
    if (options.name)
      this.append(room, creator.userId, 'm.room.name', { name: options.name }, { state_key: '' });
    for (const s of options.initial_state ?? [])
      this.append(room, creator.userId, s.type, s.content, { state_key: s.state_key ?? '' });
    for (const invitee of options.invite ?? []) this.invite(creator, id, invitee);
    return id;
  }

  invite(sender: FakeMatrixUser, roomId: string, userId: string): void {
    const room = this.room(roomId);
    this.requireJoined(room, sender.userId);
    const levels = room.state.get(stateKeyOf('m.room.power_levels', ''))?.content ?? {};
    if (this.powerLevel(roomId, sender.userId) < Number(levels.invite ?? 0))
      throw new HttpError(403, 'M_FORBIDDEN', 'You do not have permission to invite');
    const current = this.membership(roomId, userId);
    if (current === 'join' || current === 'ban')
      throw new HttpError(403, 'M_FORBIDDEN', `${userId} is already in the room`);
    const invitee = this.users.get(userId);
    this.append(
      room,
      sender.userId,
      'm.room.member',
      { membership: 'invite', ...(invitee ? { displayname: invitee.displayName } : {}) },
      { state_key: userId },
    );
  }

  join(user: FakeMatrixUser, roomId: string): void {
    const room = this.room(roomId);
    const rule = room.state.get(stateKeyOf('m.room.join_rules', ''))?.content.join_rule;
    const current = this.membership(roomId, user.userId);
    if (current === 'join') return;
    if (current !== 'invite' && rule !== 'public')
      throw new HttpError(403, 'M_FORBIDDEN', 'You are not invited to this room.');
    this.joined(room, user);
  }

  private joined(room: Room, user: FakeMatrixUser): void {
    this.append(
      room,
      user.userId,
      'm.room.member',
      { membership: 'join', displayname: user.displayName },
      { state_key: user.userId },
    );
  }

  /** Sends an event as `user` (the server side of PUT /send); `ts` backdates it for tests. */
  sendEvent(
    user: FakeMatrixUser,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    options: { txnId?: string; ts?: number } = {},
  ): MatrixEvent {
    const room = this.room(roomId);
    this.requireJoined(room, user.userId);
    return this.append(room, user.userId, type, content, options);
  }

  /** Sets a state event as `user` (the server side of PUT /state/{type}/{key}). */
  setState(
    user: FakeMatrixUser,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    stateKey = '',
  ): MatrixEvent {
    const room = this.room(roomId);
    this.requireJoined(room, user.userId);
    return this.append(room, user.userId, type, content, { state_key: stateKey });
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    const path = url.pathname;
    const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const entry: FakeRequest = {
      method: req.method!,
      path,
      at: Date.now(),
      status: 200,
      user: this.byToken.get(bearer)?.userId,
    };
    this.requests.push(entry);
    this.entries.set(req, entry);
    res.once('close', () => {
      entry.ended = res.writableFinished ? 'answered' : 'aborted';
      this.wake();
    });
    try {
      const failure = this.failures.findIndex((f) => f.method === req.method && f.path.test(path));
      if (failure >= 0) {
        const { status, errcode } = this.failures.splice(failure, 1)[0]!;
        throw new HttpError(status, errcode, 'Internal server error');
      }
      const limit = this.limits.findIndex(
        (l) => l.method === req.method && l.path.test(path) && (!l.token || l.token === bearer),
      );
      if (limit >= 0) {
        const { retryAfterMs, how } = this.limits.splice(limit, 1)[0]!;
        this.limited.push({ method: req.method!, path, at: Date.now(), retryAfterMs });
        throw new HttpError(
          429,
          'M_LIMIT_EXCEEDED',
          'Too many requests',
          how === 'header' ? {} : { retry_after_ms: retryAfterMs },
          how === 'body' ? null : String(Math.ceil(retryAfterMs / 1000)),
        );
      }
      const body = await readJson(req);
      const result = await this.route(req.method!, path, url, req, body);
      this.send(res, 200, result);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      entry.status = error.status;
      const headers: Record<string, string> = {};
      if (error.retryAfter) headers['retry-after'] = error.retryAfter;
      this.send(res, error.status, { errcode: error.errcode, error: error.message, ...error.extra }, headers);
    } finally {
      this.wake();
    }
  }

  private auth(req: IncomingMessage, url: URL): FakeMatrixUser {
    const header = String(req.headers.authorization ?? '');
    const token = header.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('access_token');
    if (!token) throw new HttpError(401, 'M_MISSING_TOKEN', 'Missing access token');
    const user = this.byToken.get(token);
    if (!user)
      throw new HttpError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token', { soft_logout: false });
    return user;
  }

  private async route(
    method: string,
    path: string,
    url: URL,
    req: IncomingMessage,
    body: { json: unknown; raw: Buffer },
  ): Promise<unknown> {
    if (method === 'GET' && path === '/_matrix/client/versions')
      return { versions: ['v1.11', 'v1.12', 'v1.13'], unstable_features: {} };
    const json = (body.json ?? {}) as Record<string, unknown>;
    if (path === '/_matrix/media/v3/upload' && method === 'POST') {
      this.auth(req, url);
      const id = randomBytes(12).toString('base64url');
      this.media.set(id, {
        contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
        data: body.raw,
        filename: url.searchParams.get('filename'),
      });
      return { content_uri: `mxc://${this.serverName}/${id}` };
    }
    const m = path.match(/^\/_matrix\/client\/v3(\/.*)$/);
    if (!m) throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    const p = m[1]!.split('/').map((s) => decodeURIComponent(s));
    // p[0] is '' (the leading slash).
    const user = this.auth(req, url);
    const route = `${method} ${p.slice(1).join('/')}`;

    if (route === 'GET account/whoami')
      return { user_id: user.userId, device_id: 'FAKEDEVICE', is_guest: false };
    if (method === 'GET' && p[1] === 'profile' && p[2]) {
      const target = this.users.get(p[2]);
      if (!target) throw new HttpError(404, 'M_NOT_FOUND', 'Profile not found');
      if (p[3] === 'displayname') return { displayname: target.displayName };
      return { displayname: target.displayName };
    }
    if (p[1] === 'user' && p[2] && p[3] === 'account_data' && p[4]) {
      if (p[2] !== user.userId) throw new HttpError(403, 'M_FORBIDDEN', 'Cannot access other users’ data');
      const data = this.accountData.get(user.userId) ?? new Map<string, unknown>();
      this.accountData.set(user.userId, data);
      if (method === 'GET') {
        if (!data.has(p[4])) throw new HttpError(404, 'M_NOT_FOUND', 'Account data not found');
        return data.get(p[4]);
      }
      if (method === 'PUT') {
        data.set(p[4], json);
        return {};
      }
    }
    if (p[1] === 'user' && p[2] && p[3] === 'filter') {
      if (p[2] !== user.userId) throw new HttpError(403, 'M_FORBIDDEN', 'Cannot use other users’ filters');
      if (method === 'POST' && !p[4]) {
        const id = String(this.filters.size + 1);
        this.filters.set(`${user.userId}/${id}`, json);
        return { filter_id: id };
      }
      if (method === 'GET' && p[4]) {
        const filter = this.filters.get(`${user.userId}/${p[4]}`);
        if (!filter) throw new HttpError(404, 'M_NOT_FOUND', 'No such filter');
        return filter;
      }
    }
    if (route === 'GET joined_rooms')
      return {
        joined_rooms: [...this.rooms.values()]
          .filter((r) => this.membership(r.id, user.userId) === 'join')
          .map((r) => r.id),
      };
    if (route === 'GET sync') return this.sync(user, url, this.entries.get(req));
    if (route === 'POST createRoom') {
      return { room_id: this.createRoom(user, json as Parameters<FakeHomeserver['createRoom']>[1]) };
    }
    if (method === 'POST' && p[1] === 'join' && p[2]) {
      this.join(user, p[2]);
      return { room_id: p[2] };
    }
    if (p[1] === 'rooms' && p[2]) {
      const room = this.room(p[2]);
      const action = p[3];
      if (method === 'POST' && action === 'join') {
        this.join(user, room.id);
        return { room_id: room.id };
      }
      if (method === 'POST' && action === 'leave') {
        const current = this.membership(room.id, user.userId);
        if (current !== 'join' && current !== 'invite')
          throw new HttpError(403, 'M_FORBIDDEN', 'You are not in this room');
        this.append(room, user.userId, 'm.room.member', { membership: 'leave' }, { state_key: user.userId });
        return {};
      }
      if (method === 'POST' && action === 'invite') {
        this.invite(user, room.id, String(json.user_id));
        return {};
      }
      if (action === 'state') {
        this.requireJoined(room, user.userId);
        if (method === 'GET' && !p[4])
          return [...room.state.values()].map((e) => this.clientEvent(e, user, true));
        const type = p[4]!;
        const key = p[5] ?? '';
        if (method === 'GET') {
          const event = room.state.get(stateKeyOf(type, key));
          if (!event) throw new HttpError(404, 'M_NOT_FOUND', 'Event not found.');
          // `format=event` (spec v1.16) asks for the whole event instead of its content.
          return url.searchParams.get('format') === 'event'
            ? this.clientEvent(event, user, true)
            : event.content;
        }
        if (method === 'PUT') {
          const levels = room.state.get(stateKeyOf('m.room.power_levels', ''))?.content ?? {};
          const needed = Number(
            (levels.events as Record<string, number> | undefined)?.[type] ?? levels.state_default ?? 50,
          );
          if (this.powerLevel(room.id, user.userId) < needed)
            throw new HttpError(403, 'M_FORBIDDEN', 'You don’t have permission to post that to the room.');
          return { event_id: this.append(room, user.userId, type, json, { state_key: key }).event_id };
        }
      }
      if (method === 'PUT' && action === 'send' && p[4] && p[5]) {
        const key = `${user.token}/${p[5]}`;
        const seen = this.txns.get(key);
        if (seen) return { event_id: seen };
        const event = this.sendEvent(user, room.id, p[4], json, { txnId: p[5] });
        this.txns.set(key, event.event_id);
        return { event_id: event.event_id };
      }
      if (method === 'PUT' && action === 'redact' && p[4] && p[5]) {
        this.requireJoined(room, user.userId);
        const target = room.events.find((e) => e.event_id === p[4]);
        if (!target) throw new HttpError(404, 'M_NOT_FOUND', 'Event not found');
        if (target.sender !== user.userId) {
          const levels = room.state.get(stateKeyOf('m.room.power_levels', ''))?.content ?? {};
          if (this.powerLevel(room.id, user.userId) < Number(levels.redact ?? 50))
            throw new HttpError(403, 'M_FORBIDDEN', 'You cannot redact this event');
        }
        const redaction = this.append(
          room,
          user.userId,
          'm.room.redaction',
          { ...json, redacts: target.event_id },
          { redacts: target.event_id, txnId: p[5] },
        );
        target.content = {};
        target.unsigned = { redacted_because: { event_id: redaction.event_id, sender: user.userId } };
        return { event_id: redaction.event_id };
      }
    }
    throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
  }

  /** An event as the client-server API returns it (ClientEvent; `room_id` omitted in sync). */
  private clientEvent(e: MatrixEvent, viewer: FakeMatrixUser, withRoomId = false): Record<string, unknown> {
    const unsigned: Record<string, unknown> = {
      ...e.unsigned,
      age: Date.now() + this.clockSkewMs - e.origin_server_ts,
    };
    if (e.txnId && e.sender === viewer.userId) unsigned.transaction_id = e.txnId;
    return {
      event_id: e.event_id,
      type: e.type,
      sender: e.sender,
      content: e.content,
      origin_server_ts: e.origin_server_ts,
      unsigned,
      ...(withRoomId ? { room_id: e.room_id } : {}),
      ...(e.state_key !== undefined ? { state_key: e.state_key } : {}),
      ...(e.redacts ? { redacts: e.redacts } : {}),
    };
  }

  private async sync(user: FakeMatrixUser, url: URL, entry: FakeRequest | undefined): Promise<unknown> {
    const since = url.searchParams.get('since');
    const from = since ? Number(since.replace(/^s/, '')) : null;
    if (since && !Number.isInteger(from)) throw new HttpError(400, 'M_INVALID_PARAM', 'Invalid since token');
    const timeout = Math.min(Number(url.searchParams.get('timeout') ?? 0) || 0, 60_000);
    const deadline = Date.now() + timeout;
    for (;;) {
      const response = this.syncResponse(user, from);
      const hasNews =
        Object.keys(response.rooms.join).length +
          Object.keys(response.rooms.invite).length +
          Object.keys(response.rooms.leave).length >
        0;
      if (hasNews || from === null || Date.now() >= deadline) return response;
      if (entry) entry.parked = true;
      await this.changes.next(Math.max(0, deadline - Date.now()));
      if (entry) entry.parked = false;
    }
  }

  private syncResponse(user: FakeMatrixUser, from: number | null) {
    const join: Record<string, unknown> = {};
    const invite: Record<string, unknown> = {};
    const leave: Record<string, unknown> = {};
    for (const room of this.rooms.values()) {
      const membership = this.membership(room.id, user.userId);
      const memberEvent = room.state.get(stateKeyOf('m.room.member', user.userId));
      if (!memberEvent) continue;
      if (membership === 'invite') {
        if (from !== null && memberEvent.stream <= from) continue;
        const stripped = ['m.room.create', 'm.room.name', 'm.room.join_rules', 'm.room.encryption']
          .map((t) => room.state.get(stateKeyOf(t, '')))
          .filter((e): e is MatrixEvent => !!e)
          .concat([memberEvent])
          .map((e) => ({ type: e.type, state_key: e.state_key, sender: e.sender, content: e.content }));
        invite[room.id] = { invite_state: { events: stripped } };
        continue;
      }
      if (membership === 'leave' || membership === 'ban') {
        if (from !== null && memberEvent.stream > from)
          leave[room.id] = { timeline: { events: [this.clientEvent(memberEvent, user)], limited: false } };
        continue;
      }
      if (membership !== 'join') continue;
      const visible = room.events.filter((e) => e.stream <= this.stream);
      const joinedAt = memberEvent.stream;
      const fresh =
        from === null
          ? visible.slice(-20)
          : visible.filter((e) => e.stream > from && (e.stream >= joinedAt || e === memberEvent));
      if (from !== null && fresh.length === 0) continue;
      const timelineIds = new Set(fresh.map((e) => e.event_id));
      const state =
        from === null || joinedAt > from
          ? [...room.state.values()].filter((e) => !timelineIds.has(e.event_id))
          : [];
      join[room.id] = {
        timeline: {
          events: fresh.map((e) => this.clientEvent(e, user)),
          limited: from === null && visible.length > fresh.length,
          prev_batch: `t${fresh[0]?.stream ?? this.stream}`,
        },
        state: { events: state.map((e) => this.clientEvent(e, user)) },
        account_data: { events: [] },
        ephemeral: { events: [] },
        unread_notifications: { highlight_count: 0, notification_count: 0 },
      };
    }
    return {
      next_batch: `s${this.stream}`,
      rooms: { join, invite, leave },
      account_data: { events: [] },
      presence: { events: [] },
      to_device: { events: [] },
      device_lists: { changed: [], left: [] },
      device_one_time_keys_count: {},
    };
  }
}

async function readJson(req: IncomingMessage): Promise<{ json: unknown; raw: Buffer }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'M_TOO_LARGE', 'Request too large');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const type = String(req.headers['content-type'] ?? '');
  if (raw.length === 0 || !type.includes('json')) return { json: null, raw };
  try {
    return { json: JSON.parse(raw.toString('utf8')), raw };
  } catch {
    throw new HttpError(400, 'M_NOT_JSON', 'Content not JSON.');
  }
}
