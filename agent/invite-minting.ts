import type { RandomSource } from '../src/crypto/random.js';
import { inviteMailboxTtl } from '../src/handshake/deadlines.js';
import { mintCodeInvite, mintUrlInvite } from '../src/handshake/mint.js';
import type { Identity } from '../src/identity/identity.js';
import {
  type InvitePolicy,
  type InviteRequest,
  MAX_FAILED_CODE_ATTEMPTS,
  resolveInvitePolicy,
} from '../src/invite/invite-policy.js';
import type { InviteCreator } from '../src/rpc/protocol.js';
import { shortId } from './record-kinds.js';
import type { RelayTransport } from './relay-transport.js';
import type { InviteRecord } from './state/agent-state.js';

/** Config-level invite defaults. */
export interface InviteDefaults {
  readonly format: 'url' | 'code';
  readonly urlTtlSeconds: number;
  readonly codeTtlSeconds: number;
}

/** What invite.create asks for: the policy's fields, a label, and who asks. */
export type InviteCreateRequest = InviteRequest & {
  label?: string | undefined;
  creator?: InviteCreator | undefined;
};

/** The invite's policy: what the caller asked for, the config's defaults for what it left out. */
export function createPolicy(
  params: InviteCreateRequest,
  defaults: InviteDefaults | undefined,
): InvitePolicy {
  const format = params.format ?? defaults?.format ?? 'url';
  const configuredTtl = format === 'url' ? defaults?.urlTtlSeconds : defaults?.codeTtlSeconds;
  return resolveInvitePolicy({
    ...params,
    format,
    ...(params.ttlSeconds === undefined && params.mode !== 'device' && configuredTtl !== undefined
      ? { ttlSeconds: configuredTtl }
      : {}),
  });
}

/** What minting needs from the agent. */
export interface MintDeps {
  readonly identity: Identity;
  /** The home relay: invites are minted there, and kept there if the agent's relay changes later. */
  readonly relay: RelayTransport;
  /** The home relay's URL as a link names it, and as its pool key. */
  readonly relayUrl: string;
  readonly homeKey: string;
  readonly now: () => number;
  readonly random: RandomSource;
}

/**
 * Mints an invite under `policy` and builds its record. A code's mailbox and nameplate are
 * registered at the relay first (the nameplate is in the code); a link's mailbox is being created
 * when this returns (`registered`), so that it is created while the record is saved.
 */
export async function mintInvite(
  policy: InvitePolicy,
  params: InviteCreateRequest,
  deps: MintDeps,
): Promise<{ record: InviteRecord; registered: Promise<void> }> {
  const { relay, random } = deps;
  const now = deps.now();
  const readCapability = random(16);
  // The mailbox outlives the invite by the grace period and the ack windows (deadlines.ts).
  const ttl = inviteMailboxTtl(policy.ttlSeconds);
  let record: InviteRecord;
  let registered: Promise<void> = Promise.resolve();
  if (policy.format === 'url') {
    const minted = mintUrlInvite(deps.identity, policy, deps.relayUrl, now, random);
    registered = relay.createMailbox(
      minted.invite.mailboxId,
      readCapability,
      minted.invite.writeCapability,
      ttl,
    );
    record = {
      ...newInviteRecord(
        minted.issuer,
        readCapability,
        { url: minted.webUrl, customUrl: minted.customUrl },
        params.label,
        deps,
      ),
      writeCapability: minted.invite.writeCapability,
    };
  } else {
    const mailboxId = random(16);
    await relay.createMailbox(mailboxId, readCapability, null, ttl);
    const maxClaims = Math.min(16, policy.uses + MAX_FAILED_CODE_ATTEMPTS);
    const { nameplate } = await relay.createNameplate(mailboxId, readCapability, maxClaims);
    const minted = mintCodeInvite(policy, nameplate, mailboxId, now, random);
    record = newInviteRecord(minted.issuer, readCapability, { code: minted.text }, params.label, deps);
  }
  record = { ...record, relayUrl: deps.homeKey };
  if (params.creator) record = { ...record, creator: params.creator };
  return { record, registered };
}

function newInviteRecord(
  issuer: InviteRecord['issuer'],
  readCapability: Uint8Array,
  text: { url?: string; customUrl?: string; code?: string },
  label: string | undefined,
  deps: MintDeps,
): InviteRecord {
  return {
    id: shortId(issuer.mailboxId),
    format: issuer.formSecret.form,
    mode: issuer.mode,
    ...(label ? { label } : {}),
    createdAt: new Date(deps.now() * 1000).toISOString(),
    ...text,
    readCapability,
    afterSeq: 0,
    // Seeded ephemerals: replies may go out while their step is saved (Step.replayable).
    issuer: { ...issuer, ephemeralSeed: deps.random(32) },
    sas: {},
  };
}
