import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadDiscordConfig } from '../../bots/discord/config.js';
import { loadMatrixConfig } from '../../bots/matrix/config.js';
import { loadConfigFile } from '../../cli/config-file.js';
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

  it('one file serves the agent, the relay and the bots: each reads its sections', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pl-cfg-')), 'pairlink.json');
    const discord = JSON.parse(readFileSync('bots/discord/config.example.json', 'utf8')).discord;
    writeFileSync(file, JSON.stringify({ agent: { name: 'build box' }, discord }));
    expect(loadConfigFile(file).agent.name).toBe('build box');
    expect(loadDiscordConfig(file).apiUrl).toBe('https://discord.com/api');
    // A bot whose section is missing says so, instead of reporting the others as unknown keys.
    expect(() => loadMatrixConfig(file)).toThrow(/has no "matrix" section/);
    // The sections are still checked: by the bot that reads them.
    writeFileSync(file, JSON.stringify({ discord: { tokn: 'x' } }));
    expect(loadConfigFile(file).agent.name).toBeNull();
    expect(() => loadDiscordConfig(file)).toThrow(/Unrecognized key: "tokn"/);
  });
});
