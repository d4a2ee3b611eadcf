import { z } from 'zod';
import { MAX_INVITE_USES, MAX_TTL_SECONDS } from '../invite/invite-policy.js';
import { MAX_INVITE_TEXT_LENGTH } from '../invite/invite-url.js';
import type { RpcMethodName } from './protocol.js';

const empty = z.object({}).strict();
const id = z.string().min(1).max(64);

/**
 * Strict param schemas for every method: unknown keys are refused (a typo in a script should be
 * an error, not silently ignored), and every string and number is bounded.
 */
export const PARAM_SCHEMAS = {
  'agent.info': empty,
  'agent.methods': empty,
  'identity.get': empty,
  'invite.create': z
    .object({
      ttlSeconds: z.number().int().min(30).max(MAX_TTL_SECONDS.url).optional(),
      uses: z.number().int().min(1).max(MAX_INVITE_USES).optional(),
      format: z.enum(['url', 'code']).optional(),
      mode: z.enum(['peer', 'device']).optional(),
      label: z.string().min(1).max(100).optional(),
      requireSas: z.boolean().optional(),
      creator: z
        .object({
          kind: z.enum(['cli', 'script', 'bot']),
          user: z.string().min(1).max(200).optional(),
          chat: z.enum(['discord', 'matrix']).optional(),
          channel: z.string().min(1).max(200).optional(),
        })
        .strict()
        .optional(),
    })
    .strict(),
  'invite.get': z.object({ id }).strict(),
  'invite.list': z.object({ all: z.boolean().optional() }).strict(),
  'invite.cancel': z.object({ id }).strict(),
  'invite.confirmSas': z
    .object({
      id,
      sessionId: z.string().regex(/^[0-9a-f]{32}$/, 'a session id is 32 hex digits'),
      match: z.boolean(),
    })
    .strict(),
  'invite.accept': z
    .object({
      invite: z.string().min(1).max(MAX_INVITE_TEXT_LENGTH),
      requireSas: z.boolean().optional(),
      waitSeconds: z.number().min(0).max(600).optional(),
    })
    .strict(),
  'accept.confirmSas': z.object({ acceptId: id, match: z.boolean() }).strict(),
  'history.list': z
    .object({ since: z.string().max(40).optional(), limit: z.number().int().min(1).max(10_000).optional() })
    .strict(),
  'accept.get': z.object({ acceptId: id, waitSeconds: z.number().min(0).max(600).optional() }).strict(),
  'peer.list': empty,
  'peer.get': z.object({ did: z.string().min(1).max(64) }).strict(),
  'peer.remove': z.object({ did: z.string().min(1).max(64) }).strict(),
  'events.subscribe': empty,
  'events.unsubscribe': empty,
} as const satisfies Record<RpcMethodName, z.ZodType>;
