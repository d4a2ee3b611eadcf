/** Who may do what in a chat: allowlists of user and role ids, else a moderator permission. */
export interface Allowlist {
  readonly userIds: readonly string[];
  /** Absent in a chat without roles (Matrix). */
  readonly roleIds?: readonly string[] | undefined;
}

/** The commands the policy guards (help is for everyone). */
export const BOT_ACTIONS = ['invite', 'accept', 'invites', 'cancel', 'peers'] as const;
export type BotAction = (typeof BOT_ACTIONS)[number];

export interface Actor {
  readonly userId: string;
  readonly roleIds: readonly string[];
  /** The chat's moderator right (Discord: Manage Server; Matrix: the power level threshold). */
  readonly isModerator: boolean;
}

/**
 * Allowed when the actor is on the action's allowlist (by user or role) or is a moderator. An
 * action with no allowlist configured is for moderators only: the safe default.
 */
export function mayDo(
  actor: Actor,
  action: BotAction,
  allow: Partial<Record<BotAction, Allowlist>>,
): boolean {
  if (actor.isModerator) return true;
  const list = allow[action];
  if (!list) return false;
  return list.userIds.includes(actor.userId) || actor.roleIds.some((r) => list.roleIds?.includes(r));
}

/** Cancel: the minter of the invite, or a moderator, whatever the allowlists say. */
export function mayCancel(actor: Actor, minterId: string): boolean {
  return actor.isModerator || actor.userId === minterId;
}
