import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_POSTED, PostedInvites } from '../../bots/core/posted-invites.js';
import type { InviteView } from '../../bots/core/render.js';

const view = (id: string, expiresAt = '2030-01-01T00:00:00.000Z'): InviteView => ({
  invite: { id, url: `https://relay.example/i#${id}`, expiresAt, usesLeft: 1 },
  minter: '<@1>',
  state: 'open',
});
const where = { channelId: '1', messageId: '2' };

function file(): string {
  return join(mkdtempSync(join(tmpdir(), 'pl-posted-')), 'state', 'posts.json');
}

describe('PostedInvites (a bot’s posted invite messages)', () => {
  it('survives a reopen, in a 0600 file in a 0700 directory, and forgets finished invites', async () => {
    const path = file();
    const store = await PostedInvites.open<typeof where>(path);
    await store.set('A1', { where, minterId: '1', view: view('A1') });
    await store.set('B2', { where, minterId: '1', view: view('B2') });
    await store.update('B2', { ...view('B2'), state: 'paired', peerName: 'agent-b' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    const again = await PostedInvites.open<typeof where>(path);
    expect(again.ids()).toEqual(['A1']);
    expect(again.get('A1')).toEqual({ where, minterId: '1', view: view('A1') });
  });

  it("keeps a code's relay across a reopen, so a restarted bot's edits still show it; older files have none", async () => {
    const path = file();
    const code: InviteView = {
      ...view('C3'),
      invite: {
        id: 'C3',
        code: 'ABCD-EFGH-JKLM',
        relayUrl: 'https://relay.example',
        expiresAt: '2030-01-01T00:00:00.000Z',
        usesLeft: 1,
      },
    };
    await (await PostedInvites.open<typeof where>(path)).set('C3', { where, minterId: '1', view: code });
    expect((await PostedInvites.open<typeof where>(path)).get('C3')?.view).toEqual(code);
    // A file from before the relay was kept: still read, without one.
    writeFileSync(
      path,
      JSON.stringify({ version: 1, invites: [{ where, minterId: '1', view: view('A1') }] }),
    );
    expect((await PostedInvites.open<typeof where>(path)).get('A1')?.view).toEqual(view('A1'));
  });

  it('keeps at most MAX_POSTED, forgetting the one expiring first', async () => {
    const store = await PostedInvites.open<typeof where>(file());
    const writes: Promise<void>[] = [];
    for (let i = 0; i <= MAX_POSTED; i++) {
      const expires = new Date(Date.UTC(2030, 0, 1) + (i === 7 ? -1 : i) * 1000).toISOString();
      writes.push(store.set(`I${i}`, { where, minterId: '1', view: view(`I${i}`, expires) }));
    }
    await Promise.all(writes);
    expect(store.size).toBe(MAX_POSTED);
    expect(store.get('I7')).toBeUndefined();
    expect(store.get('I0')).toBeDefined();
  });

  it('refuses a damaged file with its path, and leaves it as it was', async () => {
    const path = file();
    const store = await PostedInvites.open<typeof where>(path);
    await store.set('A1', { where, minterId: '1', view: view('A1') });
    writeFileSync(path, '{"version":1,"invites":[{"where":{}}]}');
    await expect(PostedInvites.open(path)).rejects.toThrow(/posts\.json is damaged/);
    writeFileSync(path, 'not json');
    await expect(PostedInvites.open(path)).rejects.toThrow(/is damaged/);
    expect(readFileSync(path, 'utf8')).toBe('not json');
  });
});
