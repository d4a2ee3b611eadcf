import { z } from 'zod';
import { ERROR_TEXT } from '../error-text.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { applicationErrorNumber } from './errors.js';
import {
  COMMON_ERRORS,
  METHOD_DESCRIPTIONS,
  METHOD_ERRORS,
  NOTIFICATION_DESCRIPTIONS,
  type RpcMethodName,
  type RpcNotificationName,
} from './protocol.js';
import { NOTIFICATION_SCHEMAS, PARAM_SCHEMAS, RESULT_SCHEMAS } from './schemas.js';

/**
 * The OpenRPC 1.3 document `rpc.discover` answers, generated from the one set of schemas
 * (schemas.ts) and the method table (protocol.ts). docs/RPC.md is rendered from it
 * (`renderRpcMarkdown`) and test/unit/openrpc.test.ts keeps the file identical to the rendering and
 * validates the document against the published OpenRPC meta-schema. OpenRPC describes only
 * client-to-server calls; the agent's notifications are listed under `x-notifications`, each shaped
 * like a method object without a result.
 */

type JsonSchema = Record<string, unknown>;

interface ContentDescriptor {
  name: string;
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

interface MethodObject {
  name: string;
  summary: string;
  paramStructure: 'by-name';
  params: ContentDescriptor[];
  result?: ContentDescriptor;
  errors?: { code: number; message: string; data: { code: ErrorCode } }[];
}

export type OpenRpcDocument = {
  openrpc: string;
  info: { title: string; version: string; description: string };
  methods: MethodObject[];
  'x-notifications': MethodObject[];
};

export const OPENRPC_VERSION = '1.3.2';

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io }) as JsonSchema;
  return rest;
}

/** An object schema's fields as by-name content descriptors. */
function paramsOf(schema: z.ZodObject, io: 'input' | 'output'): ContentDescriptor[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const type = field as z.ZodType;
    const description = type.description;
    return {
      name,
      ...(type.safeParse(undefined).success ? {} : { required: true }),
      ...(description ? { description } : {}),
      schema: jsonSchema(type, io),
    };
  });
}

function errorsOf(codes: readonly ErrorCode[]): MethodObject['errors'] {
  return [...codes, ...COMMON_ERRORS].map((code) => ({
    code: applicationErrorNumber(code),
    message: ERROR_TEXT[code],
    data: { code },
  }));
}

/** Builds the document for an agent of version `version`. */
export function openRpcDocument(version: string): OpenRpcDocument {
  const methods = (Object.keys(METHOD_DESCRIPTIONS) as RpcMethodName[]).map(
    (name): MethodObject => ({
      name,
      summary: METHOD_DESCRIPTIONS[name],
      paramStructure: 'by-name',
      params: paramsOf(PARAM_SCHEMAS[name], 'input'),
      result: { name: `${name} result`, schema: jsonSchema(RESULT_SCHEMAS[name], 'output') },
      errors: errorsOf(METHOD_ERRORS[name]),
    }),
  );
  const notifications = (Object.keys(NOTIFICATION_DESCRIPTIONS) as RpcNotificationName[]).map(
    (name): MethodObject => ({
      name,
      summary: NOTIFICATION_DESCRIPTIONS[name],
      paramStructure: 'by-name',
      params: paramsOf(NOTIFICATION_SCHEMAS[name], 'output'),
    }),
  );
  return {
    openrpc: OPENRPC_VERSION,
    info: {
      title: 'pairlink agent',
      version,
      description:
        'JSON-RPC 2.0 over the agent’s local socket, one JSON text per line. Errors carry a stable string in error.data.code; notifications come after events.subscribe.',
    },
    methods,
    'x-notifications': notifications,
  };
}

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum) && schema.enum.length > 12) return 'string: an error code (§Error codes)';
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(typeOf).join(' \\| ');
  if (schema.type === 'array') return `array of ${typeOf((schema.items ?? {}) as JsonSchema)}`;
  if (schema.type === 'object') return 'object';
  return String(schema.type ?? 'any');
}

function bounds(schema: JsonSchema): string {
  const parts: string[] = [];
  // zod states the safe-integer range of every integer: noise for people.
  const limit = (v: unknown) => v !== undefined && Math.abs(Number(v)) < Number.MAX_SAFE_INTEGER;
  if (limit(schema.minimum)) parts.push(`≥ ${schema.minimum}`);
  if (limit(schema.maximum)) parts.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) parts.push(`length ≥ ${schema.minLength}`);
  if (schema.maxLength !== undefined) parts.push(`length ≤ ${schema.maxLength}`);
  if (schema.pattern !== undefined) parts.push(`matches \`${schema.pattern}\``);
  return parts.join(', ');
}

function row(f: ContentDescriptor): string[] {
  const notes = [bounds(f.schema), f.description ?? ''].filter(Boolean).join('; ');
  const own = `| \`${f.name}\` | ${typeOf(f.schema)} | ${f.required ? 'yes' : 'no'} | ${notes} |`;
  // An object's fields follow it as `parent.field`.
  const items = f.schema.type === 'array' ? ((f.schema.items ?? {}) as JsonSchema) : undefined;
  const prefix = items ? `${f.name}[]` : f.name;
  const nested = objectFields(items ?? f.schema).map((n) => row({ ...n, name: `${prefix}.${n.name}` }));
  return [own, ...nested.flat()];
}

function fieldRows(fields: ContentDescriptor[]): string[] {
  if (fields.length === 0) return ['None.', ''];
  return ['| name | type | required | notes |', '|---|---|---|---|', ...fields.flatMap(row), ''];
}

function objectFields(schema: JsonSchema): ContentDescriptor[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    required: required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

/** The result's fields (an object's, or the items' of an array of objects). */
function resultFields(schema: JsonSchema): ContentDescriptor[] {
  return objectFields(schema.type === 'array' ? ((schema.items ?? {}) as JsonSchema) : schema);
}

/** docs/RPC.md: the document for people. */
export function renderRpcMarkdown(doc: OpenRpcDocument): string {
  const lines = [
    '# pairlink agent JSON-RPC API',
    '',
    '<!-- Generated from the OpenRPC document (`rpc.discover`) by `npm run docs:rpc`; do not edit by hand. -->',
    '',
    doc.info.description,
    'The machine-readable form of this page is the answer to `rpc.discover` (OpenRPC ' +
      `${doc.openrpc}); \`pairlink rpc rpc.discover\` prints it. Params are by name, and unknown ` +
      'params are refused with INVALID_PARAMS. Every method can also answer ' +
      `${COMMON_ERRORS.map((c) => `\`${c}\``).join(', ')}; a line that is not JSON answers \`PARSE_ERROR\`, ` +
      'a request that is not JSON-RPC 2.0 `INVALID_REQUEST`, an unknown method `METHOD_NOT_FOUND`.',
    '',
    '## Methods',
    '',
  ];
  for (const m of doc.methods) {
    lines.push(`### \`${m.name}\``, '', m.summary, '', '**Params**', '', ...fieldRows(m.params));
    const result = m.result!.schema;
    const fields = resultFields(result);
    lines.push(`**Result**: ${typeOf(result)}`, '');
    if (fields.length > 0) lines.push(...fieldRows(fields));
    const own = (m.errors ?? []).filter((e) => !COMMON_ERRORS.includes(e.data.code));
    if (own.length > 0) {
      lines.push('**Errors** (`error.data.code`, `error.code`)', '');
      for (const e of own) lines.push(`- \`${e.data.code}\` (${e.code}): ${e.message}`);
      lines.push('');
    }
  }
  lines.push('## Notifications', '', 'Sent on a connection after `events.subscribe`.', '');
  for (const n of doc['x-notifications']) {
    lines.push(`### \`${n.name}\``, '', n.summary, '', '**Params**', '', ...fieldRows(n.params));
  }
  lines.push(
    '## Error codes',
    '',
    'Key on the string in `error.data.code`; `error.code` is the number JSON-RPC requires.',
    '',
    '| `data.code` | `code` | meaning |',
    '|---|---|---|',
    ...ERROR_CODES.map((c) => `| \`${c}\` | ${applicationErrorNumber(c)} | ${ERROR_TEXT[c]} |`),
  );
  return `${lines.join('\n').trimEnd()}\n`;
}
