import type { RandomSource } from '../crypto/random.js';
import type { Identity } from '../identity/identity.js';
import type { InviteMode, InvitePolicy } from '../invite/invite-policy.js';
import {
  formatCustomSchemeUrl,
  formatWebUrl,
  INVITE_SECRET_LENGTH,
  signUrlInvite,
  type UrlInvite,
} from '../invite/invite-url.js';
import { codeInviteId, formatShortCode, generateCodeSecret, type ShortCode } from '../invite/short-code.js';
import type { IssuerState } from './issuer-state.js';

/** A freshly minted URL invite: the signed invite, both URL forms and the issuer's machine state. */
export interface MintedUrlInvite {
  readonly invite: UrlInvite;
  readonly customUrl: string;
  readonly webUrl: string;
  readonly issuer: IssuerState;
}

/** Mints a URL invite with a fresh 128-bit secret. */
export function mintUrlInvite(
  identity: Identity,
  policy: InvitePolicy,
  relayUrl: string,
  now: number,
  random: RandomSource,
): MintedUrlInvite {
  const invite = signUrlInvite(identity, {
    mode: policy.mode,
    requireSas: policy.requireSas,
    relayUrl,
    expiresAt: now + policy.ttlSeconds,
    uses: policy.uses,
    secret: random(INVITE_SECRET_LENGTH),
  });
  return {
    invite,
    customUrl: formatCustomSchemeUrl(invite),
    webUrl: formatWebUrl(invite),
    issuer: newUrlIssuer(invite),
  };
}

/** A freshly minted code invite: the code, its display text and the issuer's machine state. */
export interface MintedCodeInvite {
  readonly code: ShortCode;
  readonly text: string;
  readonly issuer: IssuerState;
}

/** Mints a code invite once the relay has bound `nameplate` to the issuer's mailbox. */
export function mintCodeInvite(
  policy: InvitePolicy,
  nameplate: string,
  mailboxId: Uint8Array,
  now: number,
  random: RandomSource,
): MintedCodeInvite {
  const code: ShortCode = { nameplate, secret: generateCodeSecret(random) };
  return {
    code,
    text: formatShortCode(code),
    issuer: newCodeIssuer(code, mailboxId, {
      mode: policy.mode,
      requireSas: policy.requireSas,
      expiresAt: now + policy.ttlSeconds,
      uses: policy.uses,
    }),
  };
}

/** The initial state of a URL invite (inviteId and mailbox come from the signed invite). */
export function newUrlIssuer(invite: {
  secret: Uint8Array;
  inviteId: Uint8Array;
  mailboxId: Uint8Array;
  mode: InviteMode;
  requireSas: boolean;
  expiresAt: number;
  uses: number;
}): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'url', secret: invite.secret },
    inviteId: invite.inviteId,
    mailboxId: invite.mailboxId,
    mode: invite.mode,
    requireSas: invite.requireSas,
    expiresAt: invite.expiresAt,
    usesLeft: invite.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
    mailboxClosed: false,
  };
}

/** The initial state of a code invite, once the relay has given the mailbox a nameplate. */
export function newCodeIssuer(
  code: ShortCode,
  mailboxId: Uint8Array,
  policy: { mode: InviteMode; requireSas: boolean; expiresAt: number; uses: number },
): IssuerState {
  return {
    role: 'issuer',
    status: 'pending',
    formSecret: { form: 'code', code },
    inviteId: codeInviteId(code.nameplate, mailboxId),
    mailboxId,
    mode: policy.mode,
    requireSas: policy.requireSas,
    expiresAt: policy.expiresAt,
    usesLeft: policy.uses,
    failedAttempts: 0,
    pairedDids: [],
    sessions: {},
    mailboxClosed: false,
  };
}
