import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { captureIo } from '../support/capture-io.js';

// The help texts are what a newcomer reads first: every command and form is there, and every
// README section a help text sends the reader to exists.

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const HEADINGS = new Set([...README.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!.trim()));

async function helpOf(...args: string[]): Promise<string> {
  const io = captureIo();
  expect(await main([...args, '--help'], io)).toBe(0);
  return io.stdout.join('\n');
}

describe('CLI help', () => {
  it('the top-level help lists both bots and shows the invite of accept as optional', async () => {
    const help = await helpOf();
    expect(help).toMatch(/^ {2}bot discord /m);
    expect(help).toMatch(/^ {2}bot matrix /m);
    expect(help).toMatch(/^ {2}accept \[invite\] /m);
    expect(help).not.toContain('accept <invite>');
  });

  it("accept's usage line has every option, the forms that keep the invite private first", async () => {
    const usage = (await helpOf('accept')).split('\nUsage: ')[1]!;
    for (const option of ['--wait', '--require-sas', '--follow', '--url-handler', '--json'])
      expect(usage).toContain(option);
    expect(usage.startsWith('pairlink accept [-]')).toBe(true);
  });

  it('every README section a help text names exists', async () => {
    const commands = [...(await helpOf()).matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]!);
    expect(commands).toContain('service');
    const named: string[] = [];
    for (const command of new Set(commands)) {
      for (const m of (await helpOf(command)).matchAll(/README(?:\.md)?,? \(?"([^"]+)"/g)) named.push(m[1]!);
    }
    expect(named.length).toBeGreaterThan(0);
    for (const heading of named) expect(HEADINGS, `README heading "${heading}"`).toContain(heading);
  });
});
