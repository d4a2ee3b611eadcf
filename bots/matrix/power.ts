/**
 * A user's power level in a room, per the Matrix spec (m.room.power_levels), given the room's
 * create event and power levels content:
 *  - in room versions 12 and later the room's creators (the create event's sender and its
 *    `additional_creators`) have infinite power: they outrank everyone and are not listed;
 *  - without a power levels event the creator has 100 and everyone else 0;
 *  - otherwise `users[userId]`, else `users_default`, else 0. Values that are not integers
 *    (old rooms allowed numeric strings) are read as integers when they are, else ignored.
 */
export function powerLevelOf(
  userId: string,
  create: { readonly sender: string; readonly content: Record<string, unknown> },
  powerLevels: Record<string, unknown> | null,
): number {
  const version = String(create.content.room_version ?? '1');
  if (privilegedCreators(version)) {
    const extra = Array.isArray(create.content.additional_creators) ? create.content.additional_creators : [];
    if (userId === create.sender || extra.includes(userId)) return Number.POSITIVE_INFINITY;
  }
  if (!powerLevels) {
    const creator = typeof create.content.creator === 'string' ? create.content.creator : create.sender;
    return !privilegedCreators(version) && userId === creator ? 100 : 0;
  }
  const users = powerLevels.users && typeof powerLevels.users === 'object' ? powerLevels.users : {};
  return integer((users as Record<string, unknown>)[userId]) ?? integer(powerLevels.users_default) ?? 0;
}

/** Room versions where creators outrank everyone: 12 and later (numbered versions only). */
function privilegedCreators(version: string): boolean {
  return /^\d+$/.test(version) && Number(version) >= 12;
}

function integer(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^[+-]?\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return null;
}
