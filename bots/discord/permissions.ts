import { PermissionFlagsBits } from 'discord.js';

/**
 * What posting an invite into a channel needs, with the names Discord's settings show: the bot
 * checks these in the channel before it mints (`app_permissions`), and the install link asks for
 * exactly these. Editing its own messages and answering interactions need no permission; the
 * message embeds nothing (the QR code is an attachment) and mentions no one.
 */
export const POST_NEEDS = [
  [PermissionFlagsBits.ViewChannel, 'View Channel'],
  [PermissionFlagsBits.SendMessages, 'Send Messages'],
  [PermissionFlagsBits.AttachFiles, 'Attach Files'],
] as const;

/** The permissions integer of the install link (docs/BOTS.md): the bits of POST_NEEDS. */
export const INSTALL_PERMISSIONS: bigint = POST_NEEDS.reduce((bits, [bit]) => bits | bit, 0n);

/** The OAuth2 scopes of the install link: the bot user, and its slash commands. */
export const INSTALL_SCOPES = ['bot', 'applications.commands'] as const;
