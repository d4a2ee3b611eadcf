import { join } from 'node:path';
import { FileKeystore } from '../../agent/keystore/file-keystore.js';
import type { AcceptRecord, AgentState, InviteRecord } from '../../agent/state/agent-state.js';
import { SealedLog } from '../../agent/state/state-log.js';
import { encodeBase64url } from '../../src/encoding/base64url.js';
import { toHex } from '../../src/encoding/hex.js';

/**
 * The secrets an agent holds for its invites and accepts while they are in flight, gathered from
 * its in-memory state, and a search for any of them in what it keeps afterwards: byte strings
 * anywhere inside any byte field, texts (a short code's secret part, a link) inside any string,
 * hyphens aside.
 */
export class StateSecrets {
  readonly bytes = new Map<string, Uint8Array>();
  readonly texts = new Map<string, string>();

  private addBytes(name: string, value: Uint8Array | undefined): void {
    if (value && value.length > 0) this.bytes.set(`${name} ${toHex(value)}`, value);
  }

  private addText(name: string, value: string | undefined): void {
    if (value) this.texts.set(`${name} ${value}`, value);
  }

  /** Everything secret in `state`'s invites and accepts as they are now. */
  gather(state: AgentState): void {
    for (const invite of state.invites) this.gatherInvite(invite);
    for (const accept of state.accepts) this.gatherAccept(accept);
  }

  private gatherInvite(record: InviteRecord): void {
    const issuer = record.issuer;
    this.addText('invite link', record.url);
    this.addText('invite custom link', record.customUrl);
    this.addText('invite code', record.code);
    if (issuer.formSecret.form === 'url') this.addBytes('invite secret', issuer.formSecret.secret);
    else this.addText('invite code secret', issuer.formSecret.code.secret);
    this.addBytes('invite ephemeral seed', issuer.ephemeralSeed);
    this.addBytes('invite read capability', record.readCapability);
    this.addBytes('invite write capability', record.writeCapability);
    for (const session of Object.values(issuer.sessions)) {
      this.addBytes('issuer ephemeral secret', session.ephemeralSecret);
      this.addBytes('issuer session secret', session.sessionSecret);
      this.addBytes("acceptor's reply-box write capability", session.replyTo.writeCapability);
      this.addBytes('issuer inbox frame', session.inboxFrame);
    }
  }

  private gatherAccept(record: AcceptRecord): void {
    const acceptor = record.acceptor;
    const target = acceptor.target;
    if (target.form === 'url') {
      this.addBytes('link secret', target.invite.secret);
      this.addBytes('link write capability', target.invite.writeCapability);
    } else {
      this.addText('code secret', target.code.secret);
      this.addBytes('claimed write capability', target.issuerMailbox.writeCapability);
    }
    this.addBytes('acceptor ephemeral secret', acceptor.ephemeralSecret);
    this.addBytes('acceptor session secret', acceptor.sessionSecret);
    this.addBytes('reply-box read capability', acceptor.replyBox.readCapability);
    this.addBytes('reply-box write capability', acceptor.replyBox.writeCapability);
    this.addBytes('acceptor inbox frame', acceptor.inboxFrame);
  }

  /** The names of the secrets found anywhere in `document`, with where. */
  leaksIn(document: unknown): string[] {
    const found = new Set<string>();
    const visit = (value: unknown, path: string, depth: number): void => {
      if (depth > 64) throw new Error(`too deep at ${path}`);
      if (value instanceof Uint8Array) {
        for (const [name, secret] of this.bytes) if (contains(value, secret)) found.add(`${name} at ${path}`);
      } else if (typeof value === 'string') {
        const plain = value.replaceAll('-', '');
        for (const [name, secret] of this.texts)
          if (value.includes(secret) || plain.includes(secret.replaceAll('-', '')))
            found.add(`${name} at ${path}`);
        for (const [name, secret] of this.bytes)
          if (value.includes(encodeBase64url(secret)) || value.includes(toHex(secret)))
            found.add(`${name} (as text) at ${path}`);
      } else if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) visit(item, `${path}[${i}]`, depth + 1);
      } else if (value && typeof value === 'object') {
        for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`, depth + 1);
      }
    };
    visit(document, '', 0);
    return [...found];
  }

  get size(): number {
    return this.bytes.size + this.texts.size;
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * What a stopped agent's home holds on disk, opened as the agent opens it: the state key from its
 * file keystore (`passphrase of <name>`, as hosted-agent.ts makes it), then the sealed snapshot and
 * every entry of its log, decrypted.
 */
export async function persistedState(
  home: string,
  name: string,
): Promise<{ snapshot: unknown; changes: unknown[] }> {
  const log = await openLog(home, name);
  const loaded = await log.load();
  await log.close();
  return loaded;
}

/** Writes `snapshot` (and then `changes`, as log entries) into a stopped agent's home, as an older version might have left them. */
export async function writeState(
  home: string,
  name: string,
  snapshot: unknown,
  changes: readonly unknown[],
): Promise<void> {
  const log = await openLog(home, name);
  await log.load();
  await log.compact(snapshot);
  for (const change of changes) await log.append(change);
  await log.close();
}

async function openLog(home: string, name: string): Promise<SealedLog<unknown, unknown>> {
  const keystore = await FileKeystore.open(join(home, 'keystore.json'), `passphrase of ${name}`);
  const key = await keystore.get('state-key');
  if (!key) throw new Error(`no state key in ${home}`);
  return new SealedLog<unknown, unknown>(join(home, 'state.json'), key);
}
