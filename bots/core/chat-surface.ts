import type { Actor } from './policy.js';
import type { InviteView } from './render.js';

/** An edit of a posted invite message at the SDK edge, as a result: done, or gone for good (why). */
export type EditResult = { readonly status: 'edited' } | { readonly status: 'gone'; readonly reason: string };

/** Posting an invite message at the SDK edge, as a result. */
export type PostResult<W> =
  /** Posted where others see it: remembered at `where` and kept in step; `finish` runs once it is. */
  | { readonly status: 'posted'; readonly where: W; readonly answer?: string; finish?(): Promise<void> }
  /** Shown to the minter alone (a private invite): nothing to keep in step. */
  | { readonly status: 'shown' }
  /** Not posted (no permission, the room turned encrypted): the invite is cancelled, `line` answers. */
  | { readonly status: 'refused'; readonly line: string; readonly outcome: string };

/**
 * What the command flow needs of the chat one command came from: each adapter implements it
 * around its SDK, and turns the SDK's exceptions it expects into the results above.
 */
export interface ChatSurface<W> {
  /** The chat and the channel or room, as the command's log line names them. */
  readonly logFields: Readonly<Record<string, unknown>>;
  /** Who is asking: their id (an invite's minter id), and how a message names them. */
  readonly userId: string;
  readonly mention: string;
  /** The creator recorded with an invite minted here. */
  readonly creator: { readonly chat: 'discord' | 'matrix'; readonly user: string; readonly channel?: string };
  /** How long a pending accept is followed to tell its end. */
  readonly followMs: number;
  /** Who is asking, as the policy sees them (it may ask the chat). */
  actor(): Promise<Actor>;
  /** Why a command the policy refused is refused, in this chat's words. */
  refusal(action: string, minterOnly: boolean): string;
  /** Answers a command that does not run (refused), at once. */
  refuse(line: string): Promise<void>;
  /** Says that the command runs (Discord: defers the reply; Matrix: an hourglass). */
  begin(): Promise<void>;
  /** A status shown while the command still runs, where the chat can replace it (Discord). */
  interim?(line: string): Promise<void>;
  /** The command's answer. */
  reply(lines: readonly string[]): Promise<void>;
  /** Says that the command ended, well or not (Matrix: the hourglass becomes a tick or a cross). */
  end(ok: boolean): Promise<void>;
  /** Tells the member later how something they started ended; never rejects. */
  tellLater(lines: readonly string[]): Promise<void>;
  /** How a time is shown in a list. */
  formatTime(iso: string): string;
  /** Why no invite can be posted here, before one is minted (Discord: the bot's permissions). */
  cannotPost?(privately: boolean): string | null;
  /** Posts an invite message. */
  postInvite(view: InviteView, privately: boolean): Promise<PostResult<W>>;
}
