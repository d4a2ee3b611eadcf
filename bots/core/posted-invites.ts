import { z } from 'zod';
import { readJsonFile } from '../../io/json-file.js';
import { writeFileAtomic } from '../../io/secure-files.js';
import { PairlinkError } from '../../src/errors.js';
import { MAX_RELAY_URL_BYTES } from '../../src/identity/card.js';
import type { InviteState, InviteView } from './render.js';

/** An invite a bot posted into a room or channel: where the message is, and what it shows. */
export interface PostedInvite<W extends Record<string, string>> {
  /** The chat's address of the message (Discord: channel and message ids; Matrix: room and event ids). */
  readonly where: W;
  /** Who minted it: the Cancel button's owner. */
  readonly minterId: string;
  view: InviteView;
}

/** At most this many posted invites are remembered; the one expiring first is forgotten first. */
export const MAX_POSTED = 1000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

const STATES = ['open', 'accepted', 'paired', 'expired', 'cancelled', 'failed'] as const;
const text = z.string().max(2000);
const FILE_SCHEMA = z
  .object({
    version: z.literal(1),
    invites: z
      .array(
        z.object({
          where: z.record(z.string().max(200), z.string().max(300)),
          minterId: z.string().max(300),
          view: z.object({
            invite: z.object({
              id: z.string().max(64),
              url: text.optional(),
              code: text.optional(),
              expiresAt: z.string().max(40),
              usesLeft: z.number().int().min(0),
              label: text.optional(),
              // Optional: files written before the relay was kept have none.
              relayUrl: z.string().max(MAX_RELAY_URL_BYTES).optional(),
            }),
            minter: z.string().max(300),
            state: z.enum(STATES),
            peerName: text.optional(),
          }),
        }),
      )
      .max(MAX_POSTED),
  })
  .strict();

/**
 * The invites a bot posted, kept in a 0600 JSON file in the bot's 0700 state directory so that a
 * restarted bot still edits the messages it posted before. The file holds live invite links (as the
 * channel does), only while the invite is open: finished invites are removed. Writes are atomic
 * and serialised; a damaged file is refused at start with its path, never overwritten.
 */
export class PostedInvites<W extends Record<string, string>> {
  private readonly map = new Map<string, PostedInvite<W>>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(readonly file: string) {}

  static async open<W extends Record<string, string>>(file: string): Promise<PostedInvites<W>> {
    const store = new PostedInvites<W>(file);
    const read = await readJsonFile(file, MAX_FILE_BYTES, (value) => FILE_SCHEMA.parse(value));
    if (read.status === 'too-large')
      throw new PairlinkError(
        'INVALID_PARAMS',
        `${file} is over ${read.maxBytes} bytes: not a bot state file`,
      );
    if (read.status === 'damaged')
      throw new PairlinkError(
        'INVALID_PARAMS',
        `${file} is damaged (${read.reason.slice(0, 200)}); move it away to start afresh (the posted invites it lists will no longer be edited)`,
      );
    if (read.status === 'read')
      for (const entry of read.value.invites) store.map.set(entry.view.invite.id, entry as PostedInvite<W>);
    return store;
  }

  get(id: string): PostedInvite<W> | undefined {
    return this.map.get(id);
  }

  ids(): string[] {
    return [...this.map.keys()];
  }

  get size(): number {
    return this.map.size;
  }

  /** Remembers (or updates) a posted invite and saves; resolves once it is on disk. */
  set(id: string, entry: PostedInvite<W>): Promise<void> {
    this.map.delete(id);
    this.map.set(id, entry);
    while (this.map.size > MAX_POSTED) {
      let oldest: string | undefined;
      for (const [key, value] of this.map)
        if (!oldest || value.view.invite.expiresAt < this.map.get(oldest)!.view.invite.expiresAt)
          oldest = key;
      this.map.delete(oldest!);
    }
    return this.save();
  }

  /** Updates the view; a finished invite is forgotten. */
  update(id: string, view: InviteView): Promise<void> {
    const entry = this.map.get(id);
    if (!entry) return Promise.resolve();
    if (isFinished(view.state)) {
      this.map.delete(id);
      return this.save();
    }
    return this.set(id, { ...entry, view });
  }

  delete(id: string): Promise<void> {
    if (!this.map.delete(id)) return Promise.resolve();
    return this.save();
  }

  /** Waits for the writes made so far. */
  flush(): Promise<void> {
    return this.writing;
  }

  /** Coalesces: many changes while a write runs lead to one more write of the latest map. */
  private save(): Promise<void> {
    this.dirty = true;
    this.writing = this.writing
      .catch(() => undefined) // a failed write was reported to its caller; the next one retries
      .then(async () => {
        if (!this.dirty) return;
        this.dirty = false;
        const invites = [...this.map.values()];
        await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, invites })}\n`);
      });
    return this.writing;
  }
}

export function isFinished(state: InviteState): boolean {
  return state !== 'open' && state !== 'accepted';
}
