import { z } from 'zod';
import { ROTATION_REASONS } from '../notice/notice-body.js';

/**
 * The rotation part of the RPC contract (docs/PROTOCOL.md §11.6): `identity.rotate`, `device.list`,
 * `device.revoke` and the `peer.rotated` notification. schemas.ts folds them into its maps.
 */

const did = z.string().min(1).max(64).describe('A did: `did:key:z6Mk…`.');
const isoTime = z.string().describe('ISO 8601, UTC.');
const peerRef = z.object({ did, name: z.string() });

const RotationOutcomeSchema = z.object({
  did: did.describe('This identity’s new did (the revealed next key).'),
  previousDid: did.describe(
    'The did it rotated away from: retired, refused by every peer that applies the rotation.',
  ),
  reason: z.enum(ROTATION_REASONS),
  notified: z
    .array(peerRef)
    .readonly()
    .describe(
      'Peers a rotate notice is on its way to (retried until its receipt, 30 days). One that pinned this identity without its commitment (its inbox frame did not reach it at pairing) refuses it (noCommitment in its log) and must re-pair.',
    ),
  mustRePair: z
    .array(peerRef)
    .readonly()
    .describe(
      'Peers that cannot follow the rotation: paired without an inbox (an older version) or with their notice queue full. They still trust the old key until they pair again with the new one.',
    ),
  reAddDevices: z
    .array(peerRef)
    .readonly()
    .describe(
      'This identity’s other devices: they hold only the retired key; add each again with a device invite.',
    ),
});

export const ROTATION_PARAM_SCHEMAS = {
  'identity.rotate': z
    .object({
      reason: z
        .enum(['scheduled', 'compromised'])
        .optional()
        .describe('Why (default scheduled); peers are shown it. A device revocation is `device.revoke`.'),
    })
    .strict(),
  'device.list': z.object({}).strict(),
  'device.revoke': z
    .object({
      device: z
        .string()
        .min(1)
        .max(64)
        .describe('The device’s name, or its session id, as `device.list` shows them.'),
    })
    .strict(),
} as const;

export const DeviceInfoSchema = z.object({
  name: z.string(),
  did: did.describe('The did the device had before it became a device of this identity.'),
  pairedAt: isoTime,
  session: z
    .string()
    .optional()
    .describe('The device invite’s session (hex): names the device when two share a name.'),
});

export const ROTATION_RESULT_SCHEMAS = {
  'identity.rotate': RotationOutcomeSchema,
  'device.list': z.array(DeviceInfoSchema).readonly(),
  'device.revoke': RotationOutcomeSchema.extend({
    revoked: peerRef.describe('The device revoked (its record is gone).'),
  }),
} as const;

/** `peer.moved` notification params: a peer's inbox moved to another relay (its inbox-moved notice applied). */
export const PeerMovedSchema = z.object({
  did,
  name: z.string(),
  relayUrl: z.string().describe('The relay the peer’s inbox lives on now (its notices go there).'),
  at: isoTime,
});

/** `peer.rotated` notification params. */
export const PeerRotatedSchema = z.object({
  did: did.describe('The peer’s new did.'),
  previousDid: did.describe('The did it rotated away from, refused from now on.'),
  name: z.string(),
  reason: z.enum(ROTATION_REASONS),
  at: isoTime,
});
