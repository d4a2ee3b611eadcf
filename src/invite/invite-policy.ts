import { PairlinkError } from '../errors.js';

export type InviteMode = 'peer' | 'device';
export type InviteFormat = 'url' | 'code';

export const MAX_INVITE_USES = 1000;
/** The shortest lifetime an invite may have: long enough to paste it or read it out. */
export const MIN_TTL_SECONDS = 30;
/** Defaults chosen for how each form travels: codes are read aloud now, URLs pasted into chat. */
export const DEFAULT_TTL_SECONDS = { url: 24 * 3600, code: 10 * 60 } as const;
export const MAX_TTL_SECONDS = { url: 7 * 24 * 3600, code: 60 * 60 } as const;
/** Device invites hand over the whole identity: short-lived, single-use, SAS-checked. */
export const DEVICE_MAX_TTL_SECONDS = 15 * 60;
/** Failed code attempts (wrong code) after which a code invite burns. */
export const MAX_FAILED_CODE_ATTEMPTS = 3;
/**
 * How far an acceptor's clock may run ahead of the issuer's: an invite is refused locally only
 * this long after its expiry, since the issuer's own clock decides (and refuses with
 * INVITE_EXPIRED). Invites have no not-before, so a clock behind never makes one unusable.
 */
export const ALLOWED_CLOCK_SKEW_SECONDS = 5 * 60;
/** Sessions begun before expiry may finish this long after it. */
export const SESSION_GRACE_SECONDS = 5 * 60;

/** The lifetimes, in seconds, an invite of this form and mode may have. */
export function ttlRange(format: InviteFormat, mode: InviteMode): { min: number; max: number } {
  const max = MAX_TTL_SECONDS[format];
  return { min: MIN_TTL_SECONDS, max: mode === 'device' ? Math.min(max, DEVICE_MAX_TTL_SECONDS) : max };
}

/** What a caller asks for when minting an invite. */
export interface InviteRequest {
  readonly format?: InviteFormat | undefined;
  readonly mode?: InviteMode | undefined;
  readonly ttlSeconds?: number | undefined;
  readonly uses?: number | undefined;
  readonly requireSas?: boolean | undefined;
}

/** An invite request with every default applied and every rule checked. */
export interface InvitePolicy {
  readonly format: InviteFormat;
  readonly mode: InviteMode;
  readonly ttlSeconds: number;
  readonly uses: number;
  readonly requireSas: boolean;
}

/**
 * Applies defaults and the rules of docs/PROTOCOL.md §Invite policy. Device mode demands an SAS
 * check by both operators, one use and a TTL of at most 15 minutes, in either form.
 */
export function resolveInvitePolicy(request: InviteRequest): InvitePolicy {
  const format = request.format ?? 'url';
  const mode = request.mode ?? 'peer';
  const uses = request.uses ?? 1;
  const ttlSeconds =
    request.ttlSeconds ?? (mode === 'device' ? DEVICE_MAX_TTL_SECONDS : DEFAULT_TTL_SECONDS[format]);
  const requireSas = request.requireSas ?? mode === 'device';
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TTL_SECONDS || ttlSeconds > MAX_TTL_SECONDS[format]) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `ttlSeconds must be 30 to ${MAX_TTL_SECONDS[format]} for ${format} invites`,
    );
  }
  if (!Number.isInteger(uses) || uses < 1 || uses > MAX_INVITE_USES) {
    throw new PairlinkError('INVALID_PARAMS', `uses must be 1 to ${MAX_INVITE_USES}`);
  }
  if (mode === 'device') {
    if (!requireSas) throw new PairlinkError('INVALID_PARAMS', 'device invites always require the SAS check');
    if (uses !== 1) throw new PairlinkError('INVALID_PARAMS', 'device invites are single-use');
    if (ttlSeconds > DEVICE_MAX_TTL_SECONDS) {
      throw new PairlinkError(
        'INVALID_PARAMS',
        `device invites live at most ${DEVICE_MAX_TTL_SECONDS} seconds`,
      );
    }
  }
  return { format, mode, ttlSeconds, uses, requireSas };
}
