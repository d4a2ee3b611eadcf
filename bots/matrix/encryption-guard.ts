import type { MatrixClient } from 'matrix-bot-sdk';
import type { Logger } from 'pino';
import type { LiveInvites } from '../core/live-invites.js';
import { isNotFound, redact, type Where } from './room-messages.js';

export const E2EE_NOTICE =
  'Encrypted rooms are not supported: end-to-end encryption is unavailable in this build of pairlink, so I cannot read this room and will not answer here.';

/**
 * Keeps invites out of encrypted rooms (end-to-end encryption is unavailable in this build): it
 * knows which rooms are encrypted (encryption, once on, cannot be turned off), says so once per
 * room per run, and withdraws the live invites of a room that turns encryption on. Behind an
 * E2EE-aware proxy (`e2eeProxy`) it lets every room through.
 */
export class EncryptionGuard {
  /** Rooms told (this run) that encryption is not supported. */
  private readonly told = new Set<string>();
  /** Rooms known to be encrypted. */
  private readonly encrypted = new Set<string>();

  constructor(
    private readonly matrix: () => MatrixClient,
    private readonly invites: () => LiveInvites<Where>,
    private readonly e2eeProxy: boolean,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
  ) {}

  /** A room just joined: remembered and told when it is encrypted. */
  async joined(roomId: string): Promise<void> {
    const encrypted = await this.matrix()
      .getRoomStateEvent(roomId, 'm.room.encryption', '')
      .then(
        () => true,
        () => false,
      );
    if (!encrypted) return;
    this.encrypted.add(roomId);
    if (!this.e2eeProxy) await this.tell(roomId);
  }

  /**
   * Whether a room is encrypted, asked of the homeserver each time unless already known (a room
   * can turn encryption on at any moment). A failed lookup counts as encrypted: the bot does not
   * post an invite where it cannot tell.
   */
  async isEncrypted(roomId: string): Promise<boolean> {
    if (this.e2eeProxy) return false;
    if (this.encrypted.has(roomId)) return true;
    const encrypted = await this.matrix()
      .getRoomStateEvent(roomId, 'm.room.encryption', '')
      .then(
        () => true,
        (error: Parameters<typeof isNotFound>[0]) => !isNotFound(error),
      );
    if (encrypted) this.encrypted.add(roomId);
    return encrypted;
  }

  /** True when no plaintext edit may go into this room (it turned encryption on). */
  blocksEdits(roomId: string): boolean {
    return this.encrypted.has(roomId) && !this.e2eeProxy;
  }

  /** An encrypted event arrived: behind a decrypting proxy it is one it could not decrypt, so say nothing. */
  async encryptedEvent(roomId: string): Promise<void> {
    this.encrypted.add(roomId);
    if (!this.e2eeProxy) await this.tell(roomId);
  }

  /**
   * A room turned encryption on: its live invites were posted in clear, and the bot cannot post
   * there any more. Each is cancelled at the agent and its notice and QR image are redacted, so
   * the link does not stay readable in a room whose members now expect end-to-end encryption.
   */
  async enabled(roomId: string): Promise<void> {
    this.encrypted.add(roomId);
    if (this.e2eeProxy) return;
    const invites = this.invites();
    for (const id of invites.store.ids()) {
      const entry = invites.store.get(id);
      if (!entry || entry.where.roomId !== roomId) continue;
      await this.withdraw(
        id,
        roomId,
        [entry.where.eventId, entry.where.imageId],
        'the room is now encrypted: the invite was cancelled',
      );
      this.log.info({ room: roomId, invite: id }, 'room became encrypted: invite cancelled and redacted');
    }
    await this.tell(roomId);
  }

  /** Cancels an invite at the agent, forgets its message, and redacts the given events of it. */
  async withdraw(id: string, roomId: string, eventIds: string[], reason: string): Promise<void> {
    await this.invites().withdraw(id);
    for (const eventId of eventIds.filter(Boolean))
      await redact(this.matrix(), roomId, eventId, reason, (error) =>
        this.log.warn({ err: error.message }, 'redacting an invite failed'),
      );
  }

  /** Says once per room (per run) that encrypted rooms are not supported. */
  async tell(roomId: string): Promise<void> {
    if (this.told.has(roomId)) return;
    this.told.add(roomId);
    await this.matrix().sendMessage(roomId, { msgtype: 'm.notice', body: E2EE_NOTICE, 'm.mentions': {} });
  }
}
