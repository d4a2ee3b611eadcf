import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PermissionFlagsBits } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { INSTALL_PERMISSIONS, INSTALL_SCOPES, POST_NEEDS } from '../../bots/discord/permissions.js';

// The Discord install link in the docs asks for exactly the permissions the bot checks before it
// posts an invite (bots/discord/permissions.ts), so the two cannot drift apart.

const read = (path: string) => {
  const file = fileURLToPath(new URL(`../../${path}`, import.meta.url));
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};
const DOCS = `${read('README.md')}\n${read('docs/BOTS.md')}`;

describe('the Discord permissions the docs give', () => {
  it('are the bits the bot checks before posting, and nothing else', () => {
    expect(INSTALL_PERMISSIONS).toBe(
      PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages | PermissionFlagsBits.AttachFiles,
    );
    const documented = [...DOCS.matchAll(/[?&]permissions=(\d+)/g)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(0);
    for (const integer of documented) expect(integer).toBe(String(INSTALL_PERMISSIONS));
  });

  it('with the arithmetic spelled out, and the scopes of the install link', () => {
    const terms = POST_NEEDS.map(([bit, name]) => `${name} (1 << ${bit.toString(2).length - 1} = ${bit})`);
    expect(DOCS).toContain(`${terms.join(' + ')} = ${INSTALL_PERMISSIONS}`);
    expect(DOCS).toContain(`scope=${INSTALL_SCOPES.join('+')}&permissions=${INSTALL_PERMISSIONS}`);
  });
});
