import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, defaultConfig } from '../../src/config/schema.js';

const EXAMPLE = fileURLToPath(new URL('../../config.example.json', import.meta.url));

describe('configuration schema', () => {
  it('config.example.json is exactly the schema defaults (so the two cannot drift)', () => {
    expect(JSON.parse(readFileSync(EXAMPLE, 'utf8'))).toEqual(defaultConfig());
  });

  it('refuses unknown keys and bad values with a path', () => {
    const typo = CONFIG_SCHEMA.safeParse({ relay: { prot: 1 } });
    expect(typo.success).toBe(false);
    const bad = CONFIG_SCHEMA.safeParse({ invites: { codeTtlSeconds: 999999 } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['invites', 'codeTtlSeconds']);
  });
});
