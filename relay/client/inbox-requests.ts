import { encodeBase64url } from '../../src/encoding/base64url.js';
import {
  renewedAnswer,
  trimmedAnswer,
  writerAddedAnswer,
  writerRevokedAnswer,
} from '../wire/inbox-bodies.js';
import { createdAnswer } from '../wire/relay-answers.js';
import type { RelayClient } from './relay-client.js';
import { capabilityHash } from './relay-endpoint.js';
import type { RelaySocket } from './relay-socket.js';

/**
 * An inbox owner's requests to its relay (docs/RELAY.md, Inboxes): create, renew, add and revoke
 * one peer's writer, trim what was read. They ride on a RelayClient (its deadline, its refusals
 * as PairlinkErrors, its schemas); posting to and watching an inbox are a mailbox's post and
 * watch. Over HTTP, except a writer's add and revoke, which go over a socket when one is given
 * (its relay names them in WS_OPS_HEADER): a pairing's two, without an HTTP exchange each. A relay
 * without inboxes answers the create `400 bad_request` (RELAY_PROTOCOL). Capabilities go in as
 * bytes; only their hashes leave, except the read capability, presented as the owner's credential.
 */
export class InboxRequests {
  constructor(private readonly client: RelayClient) {}

  /** Creates an inbox that lives `ttlSeconds` (up to the relay's maxInboxTtlSeconds): its expiry. */
  async create(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number> {
    const json = { readCapHash: capabilityHash(readCap), ttlSeconds, inbox: true };
    return (await this.client.exchange('PUT', path(mailboxId), { json }, createdAnswer, 'inbox')).expiresAt;
  }

  /** Keeps the inbox `ttlSeconds` from now (a renewal never shortens it): its new expiry. */
  async renew(mailboxId: Uint8Array, readCap: Uint8Array, ttlSeconds: number): Promise<number> {
    const answer = await this.client.exchange(
      'POST',
      `${path(mailboxId)}/renew`,
      { cap: readCap, json: { ttlSeconds } },
      renewedAnswer,
      'renewal',
    );
    return answer.expiresAt;
  }

  /** Lets the holder of `writeCap` (one peer) post to the inbox: the inbox's writers now. */
  async addWriter(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array,
    socket?: RelaySocket | null,
  ): Promise<number> {
    if (socket)
      return socket.request(writerOp('add_writer', mailboxId, readCap, writeCap), 'a writer', (frame) =>
        frame.op === 'writer_added' ? frame.writers : undefined,
      );
    const answer = await this.client.exchange(
      'POST',
      `${path(mailboxId)}/writers`,
      { cap: readCap, json: { writeCapHash: capabilityHash(writeCap) } },
      writerAddedAnswer,
      'writer',
    );
    return answer.writers;
  }

  /**
   * Takes the rights of `writeCaps` (at most MAX_REVOKED_PER_OP) to post away in one op over
   * `socket`, whose relay names revoke_writers: how many of them had it.
   */
  revokeWriters(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCaps: readonly Uint8Array[],
    socket: RelaySocket,
  ): Promise<number> {
    const op = {
      op: 'revoke_writers',
      mailbox: encodeBase64url(mailboxId),
      cap: encodeBase64url(readCap),
      writeCapHashes: writeCaps.map(capabilityHash),
    };
    return socket.request(op, 'a revocation', (frame) =>
      frame.op === 'writers_revoked' ? frame.revoked : undefined,
    );
  }

  /** Takes `writeCap`'s right to post away: whether it had it (a repeated revoke is harmless). */
  async revokeWriter(
    mailboxId: Uint8Array,
    readCap: Uint8Array,
    writeCap: Uint8Array,
    socket?: RelaySocket | null,
  ): Promise<boolean> {
    if (socket)
      return socket.request(
        writerOp('revoke_writer', mailboxId, readCap, writeCap),
        'a revocation',
        (frame) => (frame.op === 'writer_revoked' ? frame.revoked : undefined),
      );
    const answer = await this.client.exchange(
      'DELETE',
      `${path(mailboxId)}/writers/${capabilityHash(writeCap)}`,
      { cap: readCap },
      writerRevokedAnswer,
      'revocation',
    );
    return answer.revoked;
  }

  /** Drops the messages up to and including `throughSeq`, read already: how many went. */
  async trim(mailboxId: Uint8Array, readCap: Uint8Array, throughSeq: number): Promise<number> {
    const answer = await this.client.exchange(
      'POST',
      `${path(mailboxId)}/trim`,
      { cap: readCap, json: { through: throughSeq } },
      trimmedAnswer,
      'trim',
    );
    return answer.trimmed;
  }
}

function path(mailboxId: Uint8Array): string {
  return `/v1/mailboxes/${encodeBase64url(mailboxId)}`;
}

/** The socket op of a writer's add or revoke: HTTP's request, in one frame (docs/RELAY.md). */
function writerOp(
  op: 'add_writer' | 'revoke_writer',
  mailboxId: Uint8Array,
  readCap: Uint8Array,
  writeCap: Uint8Array,
): object {
  return {
    op,
    mailbox: encodeBase64url(mailboxId),
    cap: encodeBase64url(readCap),
    writeCapHash: capabilityHash(writeCap),
  };
}
