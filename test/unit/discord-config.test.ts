import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discordToken, loadDiscordConfig } from '../../bots/discord/config.js';

describe('Discord bot config', () => {
  it('the example validates, with the token left to the environment', () => {
    const config = loadDiscordConfig('bots/discord/config.example.json');
    expect(config.apiUrl).toBe('https://discord.com/api');
    expect(config.allow.invite).toEqual({ userIds: [], roleIds: [] });
    expect(() => discordToken(config, {})).toThrow(/set DISCORD_TOKEN or tokenFile/);
    expect(discordToken(config, { DISCORD_TOKEN: ' abc ' })).toBe('abc');
  });

  it('refuses unknown keys (such as an inline token) and malformed ids with the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-dc-'));
    writeFileSync(`${dir}/a.json`, JSON.stringify({ token: 'secret' }));
    expect(() => loadDiscordConfig(`${dir}/a.json`)).toThrow(/Unrecognized key/);
    writeFileSync(`${dir}/b.json`, JSON.stringify({ allow: { invite: { userIds: ['abc'] } } }));
    expect(() => loadDiscordConfig(`${dir}/b.json`)).toThrow(/allow\.invite\.userIds\.0/);
  });
});
