import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as jsonSchemaTools from '@json-schema-tools/meta-schema';
import * as openRpcMeta from '@open-rpc/meta-schema';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { openRpcDocument, renderRpcMarkdown } from '../../src/rpc/openrpc.js';
import { METHOD_DESCRIPTIONS, METHOD_ERRORS } from '../../src/rpc/protocol.js';
import { PARAM_SCHEMAS, RESULT_SCHEMAS } from '../../src/rpc/schemas.js';

// rpc.discover's OpenRPC document, generated from src/rpc/schemas.ts, against the published
// OpenRPC meta-schema (@open-rpc/meta-schema, with @json-schema-tools/meta-schema it refers to), and docs/RPC.md, rendered from the document.
// Regenerate the page with `npm run docs:rpc`.

const RPC_MD = fileURLToPath(new URL('../../docs/RPC.md', import.meta.url));
const doc = openRpcDocument('0.1.0');
// The packages' typings declare only types; the schemas are their runtime exports.
const metaSchema = (openRpcMeta as unknown as { openrpcDocument: object }).openrpcDocument;
const jsonSchemaMetaSchema = (jsonSchemaTools as unknown as { jsonSchema: object }).jsonSchema;

describe('OpenRPC discovery', () => {
  it('validates against the OpenRPC meta-schema', () => {
    // The OpenRPC meta-schema refers to the JSON Schema meta-schema of the same project by its id.
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, logger: false });
    ajv.addSchema(jsonSchemaMetaSchema, 'https://meta.json-schema.tools');
    const validate = ajv.compile(metaSchema);
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The validator is not a rubber stamp: a document missing its methods is refused.
    const { methods: _m, ...broken } = doc;
    expect(validate(broken)).toBe(false);
    expect(validate({ ...doc, openrpc: '9.9.9' })).toBe(false);
    const badError = structuredClone(doc);
    (badError.methods[4]!.errors![0] as { code: unknown }).code = 'RELAY_UNREACHABLE';
    expect(validate(badError)).toBe(false);
  });

  it('lists every method with params, result and errors carrying data.code, and the notifications', () => {
    expect(doc.methods.map((m) => m.name)).toEqual(Object.keys(METHOD_DESCRIPTIONS));
    for (const m of doc.methods) {
      expect(m.result?.schema).toBeTypeOf('object');
      const name = m.name as keyof typeof METHOD_ERRORS;
      for (const code of METHOD_ERRORS[name]) expect(m.errors?.map((e) => e.data.code)).toContain(code);
      for (const e of m.errors ?? []) expect(ERROR_CODES).toContain(e.data.code);
    }
    const create = doc.methods.find((m) => m.name === 'invite.create')!;
    expect(create.params.find((p) => p.name === 'uses')?.schema).toMatchObject({ minimum: 1, maximum: 1000 });
    const accept = doc.methods.find((m) => m.name === 'invite.accept')!;
    expect(accept.params.find((p) => p.name === 'invite')?.required).toBe(true);
    expect(doc['x-notifications'].map((n) => n.name)).toEqual([
      'invite.progress',
      'peer.removed',
      'peer.rotated',
      'peer.moved',
    ]);
  });

  it('describes what the schemas accept: a value the schema refuses is outside the JSON Schema too', () => {
    const ajv = new Ajv({ strict: false });
    const create = doc.methods.find((m) => m.name === 'invite.create')!;
    const uses = ajv.compile(create.params.find((p) => p.name === 'uses')!.schema);
    for (const value of [0, 1, 1000, 1001, 2.5]) {
      expect(uses(value)).toBe(PARAM_SCHEMAS['invite.create'].safeParse({ uses: value }).success);
    }
    const peer = ajv.compile(doc.methods.find((m) => m.name === 'peer.get')!.result!.schema);
    const sample = {
      did: 'did:key:z6Mk',
      name: 'ann',
      fingerprint: 'x',
      pairedAt: '2026-12-02T00:00:00.000Z',
      relayUrl: 'https://relay',
      relation: 'peer',
      confirmed: true,
      inbox: true,
    };
    expect(peer(sample)).toBe(true);
    expect(RESULT_SCHEMAS['peer.get'].safeParse(sample).success).toBe(true);
    expect(peer({ ...sample, relation: 'friend' })).toBe(false);
  });

  it('docs/RPC.md is the rendering of the document', () => {
    const rendered = renderRpcMarkdown(doc);
    if (process.env.UPDATE_RPC_DOC) writeFileSync(RPC_MD, rendered);
    expect(readFileSync(RPC_MD, 'utf8')).toBe(rendered);
  });
});
