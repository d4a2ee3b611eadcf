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

/**
 * An inbox owner's requests to its relay (docs/RELAY.md, Inboxes): create, renew, add and revoke
 * one peer's writer, trim what was read. They ride on a RelayClient (its deadline, its refusals
 * as PairlinkErrors, its schemas); posting to and watching an inbox are a mailbox's post and
 * watch. Over HTTP only: a relay without inboxes answers the create `400 bad_request`
 * (RELAY_PROTOCOL). Capabilities go in as bytes; only their hashes leave, except the read
 * capability, presented as the owner's credential.
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
  async addWriter(mailboxId: Uint8Array, readCap: Uint8Array, writeCap: Uint8Array): Promise<number> {
    const answer = await this.client.exchange(
      'POST',
      `${path(mailboxId)}/writers`,
      { cap: readCap, json: { writeCapHash: capabilityHash(writeCap) } },
      writerAddedAnswer,
      'writer',
    );
    return answer.writers;
  }

  /** Takes `writeCap`'s right to post away: whether it had it (a repeated revoke is harmless). */
  async revokeWriter(mailboxId: Uint8Array, readCap: Uint8Array, writeCap: Uint8Array): Promise<boolean> {
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
