/** How each command is typed in one chat (e.g. "`/accept invite:<link or code>`"). */
export type CommandUsage = Record<'invite' | 'accept' | 'invites' | 'cancel' | 'peers', string>;

/** The help text, in the bot core's light markup; `who` says who may use the commands there. */
export function helpLines(usage: CommandUsage, who: string, notes: readonly string[] = []): string[] {
  return [
    '**pairlink**: pairs this bot’s agent with other agents, one paste each.',
    `${usage.invite}: mint an invite here`,
    `${usage.accept}: pair this bot’s agent with the invite’s issuer (give a code’s relay when one is shown beside it)`,
    `${usage.invites}: pending invites · ${usage.cancel}: cancel one · ${usage.peers}: paired agents`,
    `Who may: ${who}; an invite’s minter may always cancel it.`,
    ...notes,
  ];
}
