import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discordToken, loadDiscordConfig } from '../../bots/discord/config.js';
import { loadMatrixConfig, matrixToken } from '../../bots/matrix/config.js';

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

describe('Matrix bot config', () => {
  it('the example validates with its defaults, the token left to the environment or a file', () => {
    const config = loadMatrixConfig('bots/matrix/config.example.json');
    expect(config).toMatchObject({ prefix: '!pair', powerLevel: 50, healthPort: 0 });
    expect(config.joinFrom).toEqual({ userIds: ['@admin:example.org'], servers: [] });
    expect(() => matrixToken(config, {})).toThrow(/set MATRIX_ACCESS_TOKEN or tokenFile/);
    const dir = mkdtempSync(join(tmpdir(), 'pl-mx-'));
    writeFileSync(`${dir}/token`, 'syt_abc\n');
    expect(matrixToken({ ...config, tokenFile: `${dir}/token` }, {})).toBe('syt_abc');
  });

  it('refuses an inline token, a bad user id, a spaced prefix and a missing homeserver, all at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pl-mx-'));
    writeFileSync(
      `${dir}/a.json`,
      JSON.stringify({ matrix: { userId: 'pairlink', prefix: '! pair', accessToken: 'secret' } }),
    );
    const error = (() => {
      try {
        loadMatrixConfig(`${dir}/a.json`);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(error).toMatch(/homeserverUrl/);
    expect(error).toMatch(/userId: a Matrix user id/);
    expect(error).toMatch(/prefix: one word/);
    expect(error).toMatch(/Unrecognized key: "accessToken"/);
    expect(error).not.toContain('secret');
  });
});
