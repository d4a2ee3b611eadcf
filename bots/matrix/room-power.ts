import type { MatrixClient } from 'matrix-bot-sdk';
import { PairlinkError } from '../../src/errors.js';
import type { Actor } from '../core/policy.js';
import { powerLevelOf } from './power.js';
import { type HomeserverError, isNotFound } from './room-messages.js';

type CreateEvent = { sender: string; content: Record<string, unknown> };

/** Who may do what in a room: a member's power level (power.ts) against the configured threshold. */
export class RoomPower {
  private readonly createEvents = new Map<string, CreateEvent>();

  constructor(
    private readonly matrix: () => MatrixClient,
    private readonly threshold: number,
  ) {}

  /** The sender as the policy sees them: moderator when their power level reaches the threshold. */
  async actor(roomId: string, userId: string): Promise<Actor> {
    const create = await this.createEvent(roomId);
    // Only "there is no such event" means no power levels; any other failure is an error, never
    // a default (a demoted creator of a pre-v12 room would otherwise be read as level 100).
    const levels = (await this.matrix()
      .getRoomStateEvent(roomId, 'm.room.power_levels', '')
      .catch((error: HomeserverError) => {
        if (isNotFound(error)) return null;
        throw new PairlinkError(
          'CHAT_UNREACHABLE',
          `could not read this room's power levels (${error?.body?.errcode ?? error?.statusCode ?? 'error'}); try again`,
        );
      })) as Record<string, unknown> | null;
    return {
      userId,
      roleIds: [],
      isModerator: powerLevelOf(userId, create, levels) >= this.threshold,
    };
  }

  /**
   * The room's create event (it never changes, so it is cached). Asked for whole with
   * `?format=event` (spec v1.16); a server that answers with the content only still gives the
   * creator through `creator` in room versions before 11.
   */
  private async createEvent(roomId: string): Promise<CreateEvent> {
    const cached = this.createEvents.get(roomId);
    if (cached) return cached;
    const raw = (await this.matrix().doRequest(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.create/`,
      { format: 'event' },
    )) as Record<string, unknown>;
    const event =
      typeof raw.sender === 'string' && raw.content && typeof raw.content === 'object'
        ? { sender: raw.sender, content: raw.content as Record<string, unknown> }
        : { sender: typeof raw.creator === 'string' ? raw.creator : '', content: raw };
    this.createEvents.set(roomId, event);
    return event;
  }
}
