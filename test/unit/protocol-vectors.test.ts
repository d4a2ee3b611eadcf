import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateProtocolVectors } from '../vectors/generate.js';

const VECTORS_PATH = fileURLToPath(new URL('../../docs/test-vectors.json', import.meta.url));

describe('docs/test-vectors.json', () => {
  it('is reproduced exactly from its fixed seeds', () => {
    const generated = JSON.parse(JSON.stringify(generateProtocolVectors()));
    // `npm run vectors` rewrites the file after a deliberate protocol change; CI never does.
    if (process.env.UPDATE_VECTORS === '1' && process.env.CI !== 'true') {
      writeFileSync(VECTORS_PATH, `${JSON.stringify(generated, null, 2)}\n`);
    }
    expect(existsSync(VECTORS_PATH)).toBe(true);
    expect(generated).toEqual(JSON.parse(readFileSync(VECTORS_PATH, 'utf8')));
  });

  it('shows both forms pairing: each side pinned the other', () => {
    const v = generateProtocolVectors();
    expect(v.url.pinned.alice).toEqual([v.parties.bob.did]);
    expect(v.url.pinned.bob).toEqual([v.parties.alice.did]);
    expect(v.code.pinned.carol).toEqual([v.parties.dave.did]);
    expect(v.code.pinned.dave).toEqual([v.parties.carol.did]);
    expect(v.url.frames.map((f) => f.type)).toEqual(['hello', 'reply', 'confirm', 'welcome', 'ack']);
    expect(v.code.frames.map((f) => f.type)).toEqual(['hello', 'reply', 'confirm', 'welcome', 'ack']);
  });

  it('shows a pairing with inboxes: each inbox frame just before the frame it precedes, each pin with the other inbox', () => {
    const v = generateProtocolVectors();
    const run = v.inboxRun;
    expect(run.frames.map((f) => `${f.from}:${f.type}`)).toEqual([
      'bob:hello',
      'alice:reply',
      'bob:confirm',
      'alice:inbox',
      'alice:welcome',
      'bob:inbox',
      'bob:ack',
    ]);
    // The same session as the `url` group, byte for byte, and alice's frame the one §10.1 lists.
    const plain = run.frames.filter((f) => f.type !== 'inbox').map((f) => f.bytes);
    expect(plain).toEqual(v.url.frames.map((f) => f.bytes));
    expect(run.frames[3]!.bytes).toBe(v.notices.inboxFrame.frame);
    expect(run.pinned.alice).toEqual({
      did: v.parties.bob.did,
      peerInbox: run.acceptorInbox.extension,
      handedWriteCapability: v.notices.inbox.writeCapability,
    });
    expect(run.pinned.bob).toEqual({
      did: v.parties.alice.did,
      peerInbox: v.notices.inboxFrame.extension,
      handedWriteCapability: run.acceptorInbox.writeCapability,
    });
  });
});
