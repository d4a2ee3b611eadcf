import type { Logger } from 'pino';
import type { InviteProgress, InviteSummary } from '../../src/rpc/protocol.js';
import type { AgentLink } from './agent-link.js';
import type { EditResult } from './chat-surface.js';
import { type PostedInvite, PostedInvites } from './posted-invites.js';
import { type InviteState, type InviteView, stateAfter } from './render.js';

/**
 * How a chat adapter edits one of its posted invite messages. `gone`: the message is gone for
 * good (deleted by a moderator, or its channel or room is gone): the invite is cancelled and the
 * entry ends, never retried, after a restart either.
 */
export type EditPosted<W extends Record<string, string>> = (entry: PostedInvite<W>) => Promise<EditResult>;

/**
 * Keeps posted invite messages in step with the agent, for both chat adapters:
 *  - `invite.progress` notifications (issuer side) change the view and edit the message;
 *  - whenever the link to the agent (re)connects, every remembered invite is checked with
 *    `invite.get`, so what happened while the bot or the agent was down is shown too;
 *  - the posted invites are persisted (see PostedInvites), so this survives a bot restart.
 * Edits of one invite run one after another, in the order the changes happened.
 */
export class LiveInvites<W extends Record<string, string>> {
  private readonly queues = new Map<string, Promise<void>>();

  private constructor(
    readonly store: PostedInvites<W>,
    private readonly agent: AgentLink,
    private readonly edit: EditPosted<W>,
    private readonly log: Logger,
  ) {}

  static async open<W extends Record<string, string>>(
    file: string,
    agent: AgentLink,
    edit: EditPosted<W>,
    log: Logger,
  ): Promise<LiveInvites<W>> {
    const live = new LiveInvites(await PostedInvites.open<W>(file), agent, edit, log);
    agent.onProgress((p) => live.onProgress(p));
    agent.onConnect(() => live.reconcile());
    return live;
  }

  /** Remembers a message just posted for an invite. */
  posted(entry: PostedInvite<W>): Promise<void> {
    return this.store.set(entry.view.invite.id, entry);
  }

  /**
   * Changes where a remembered invite's message is (e.g. once its QR image is posted too), in
   * turn with its edits. False when the invite is no longer remembered (it finished meanwhile).
   */
  relocate(id: string, where: W): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) =>
      this.enqueue(id, async () => {
        const entry = this.store.get(id);
        if (!entry) return resolve(false);
        await this.store.set(id, { ...entry, where }).then(() => resolve(true), reject);
      }),
    );
  }

  /** Forgets a posted invite, in turn with its edits (its message is gone, or must not be edited). */
  forget(id: string): Promise<void> {
    return new Promise<void>((resolve) =>
      this.enqueue(id, async () => {
        try {
          await this.store.delete(id);
        } finally {
          resolve();
        }
      }),
    );
  }

  /**
   * Cancels an invite that nobody can see any more (its message is gone, or was never posted).
   * An agent that already finished it, or does not answer, changes nothing here: the invite
   * expires at the agent anyway.
   */
  cancelUnseen(id: string): Promise<void> {
    return this.agent.call('invite.cancel', { id }).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Cancels an invite and forgets its message (the adapter takes the message down). */
  async withdraw(id: string): Promise<void> {
    await this.cancelUnseen(id);
    await this.forget(id);
  }

  /** Remembers a message found later (a Cancel press after a restart lost the file, say). */
  adopt(entry: PostedInvite<W>): Promise<void> {
    if (this.store.get(entry.view.invite.id)) return Promise.resolve();
    return this.store.set(entry.view.invite.id, entry);
  }

  private onProgress(progress: InviteProgress): void {
    if (progress.role !== 'issuer') return;
    const state = stateAfter(progress);
    if (!state || !this.store.get(progress.id)) return;
    this.enqueue(progress.id, async () => {
      const entry = this.store.get(progress.id);
      if (!entry) return;
      let view: InviteView = {
        ...entry.view,
        state,
        ...(progress.peer ? { peerName: progress.peer.name } : {}),
      };
      if (state === 'paired') {
        // A multi-use invite stays open after one pairing while uses are left.
        const summary = await this.agent.call('invite.get', { id: progress.id }).catch(() => null);
        if (summary?.status === 'pending')
          view = { ...view, state: 'open', invite: { ...view.invite, usesLeft: summary.usesLeft } };
      }
      await this.apply(entry, view);
    });
  }

  /** Checks every remembered invite against the agent and edits those that changed. */
  reconcile(): Promise<void> {
    const runs = this.store.ids().map(
      (id) =>
        new Promise<void>((resolve) =>
          this.enqueue(id, async () => {
            try {
              const entry = this.store.get(id);
              if (!entry) return;
              let summary: InviteSummary;
              try {
                summary = await this.agent.call('invite.get', { id });
              } catch (error) {
                if ((error as { code?: string }).code === 'UNKNOWN_ID') {
                  this.log.warn({ invite: id }, 'the agent no longer knows a posted invite; forgetting it');
                  await this.apply(entry, { ...entry.view, state: 'failed' });
                }
                return;
              }
              await this.apply(entry, viewOf(entry.view, summary));
            } finally {
              resolve();
            }
          }),
        ),
    );
    return Promise.all(runs).then(() => undefined);
  }

  /** Waits for the edits queued so far (tests, and a graceful stop). */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    await this.store.flush();
  }

  private async apply(entry: PostedInvite<W>, view: InviteView): Promise<void> {
    if (sameView(entry.view, view)) return;
    const edited = await this.edit({ ...entry, view });
    if (edited.status === 'gone') {
      await this.cancelUnseen(view.invite.id);
      this.log.info(
        { invite: view.invite.id, reason: edited.reason },
        'the invite message is gone; forgetting it',
      );
      await this.store.delete(view.invite.id);
      return;
    }
    await this.store.update(view.invite.id, view);
  }

  private enqueue(id: string, task: () => Promise<void>): void {
    const next = (this.queues.get(id) ?? Promise.resolve()).then(task).catch((error: Error) => {
      this.log.warn({ invite: id, err: error.message }, 'updating a posted invite failed');
    });
    this.queues.set(id, next);
    void next.then(() => {
      if (this.queues.get(id) === next) this.queues.delete(id);
    });
  }
}

/** The view an invite's summary leads to. */
function viewOf(view: InviteView, summary: InviteSummary): InviteView {
  const states: Record<InviteSummary['status'], InviteState> = {
    pending: view.state,
    used: 'paired',
    expired: 'expired',
    cancelled: 'cancelled',
    failed: 'failed',
  };
  const state = states[summary.status];
  const last = [...summary.sessions].reverse().find((s) => s.status === 'completed' && s.peer);
  return {
    ...view,
    state,
    invite: { ...view.invite, usesLeft: summary.usesLeft },
    ...(state === 'paired' && last?.peer ? { peerName: last.peer.name } : {}),
  };
}

function sameView(a: InviteView, b: InviteView): boolean {
  return a.state === b.state && a.peerName === b.peerName && a.invite.usesLeft === b.invite.usesLeft;
}
