import { MatrixClient } from 'matrix-bot-sdk';
import type { RoomEvent } from './room-messages.js';
import type { FileSyncStorage } from './storage.js';

export /** matrix-bot-sdk's client, saving the sync token after each sync is processed, and timing syncs. */
class SyncClient extends MatrixClient {
  lastSyncAt = 0;

  constructor(homeserverUrl: string, accessToken: string, storage: FileSyncStorage) {
    super(homeserverUrl, accessToken, storage);
    this.persistTokenAfterSync = true;
  }

  override async doSync(token: string): Promise<unknown> {
    const response = await super.doSync(token);
    this.lastSyncAt = Date.now();
    return response;
  }
}

/**
 * When the event was sent, by this machine's clock: now minus `unsigned.age` (which the server
 * computes when it serves the event), so a homeserver whose clock is off does not make new
 * commands look old; `origin_server_ts` when the server gives no age.
 */
export function sentAt(event: RoomEvent): number {
  const age = event.unsigned?.age;
  if (typeof age === 'number' && Number.isFinite(age) && age >= 0) return Date.now() - age;
  return typeof event.origin_server_ts === 'number' ? event.origin_server_ts : 0;
}
