import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../fakes/discord/fake-discord.js';
import { testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { bootContainer, ensureRootfs, nspawnUnavailable, ROOTFS } from '../support/nspawn.js';

// The service units under a real systemd: a Debian container (debootstrap, booted by
// systemd-nspawn) runs test/systemd/check-units.sh as a oneshot unit, with Debian's node and this
// checkout's build bind-mounted read-only at /opt/pairlink (where no unit sandbox hides it). In
// there: the relay's and the system agent's units start, the agent's reports ready, a member of
// the pairlink group pairs through its socket and one outside it is refused, a bot unit starts
// after the agent and reaches it and (the fake) Discord with its token as a credential, and a
// stop and start keep the identity and the peer. Skipped with a warning where containers cannot
// boot (not root, no debootstrap or systemd-nspawn), failed instead in CI.

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const unavailable = await nspawnUnavailable();
const inCi = !['', '0', 'false', undefined].includes(process.env.CI);
if (unavailable && !inCi)
  console.warn(
    `SKIPPED systemd-units: ${unavailable}. As root, with debootstrap and systemd-container: npx vitest run test/integration/systemd-units.test.ts`,
  );

const STEPS = [
  'relay-installed',
  'agent-installed',
  'agent-active',
  'socket-mode',
  'run-dir-mode',
  'refused-outside-group',
  'alice-whoami',
  'root-whoami',
  'second-ready',
  'invite-made',
  'accepted',
  'alice-peers',
  'bot-installed',
  'bot-healthy',
  'bot-after-agent',
  'agent-stopped',
  'agent-started',
  'alice-whoami-after',
  'alice-peers-after',
];

describe.skipIf(unavailable !== null && !inCi)('the service units under a real systemd', () => {
  const discord = new FakeDiscord();
  let results = '';
  let steps: string[] = [];
  const read = (name: string) => JSON.parse(readFileSync(join(results, name), 'utf8'));

  beforeAll(async () => {
    if (unavailable) throw new Error(`cannot boot a container: ${unavailable}`);
    const built = await ensureRootfs();
    console.info(built > 0 ? `built ${ROOTFS} in ${built.toFixed(0)} s` : `reused ${ROOTFS}`);
    await discord.start();
    const app = discord.addApp('pairlink-bot');
    const root = testRoot();
    const check = join(root, 'check');
    results = join(root, 'results');
    mkdirSync(check);
    mkdirSync(results);
    copyFileSync(join(REPO_ROOT, 'test', 'systemd', 'check-units.sh'), join(check, 'check-units.sh'));
    const env = {
      DISCORD_API: discord.api,
      DISCORD_TOKEN: app.token,
      HEALTH_PORT: await freePort(),
      RELAY_PORT: await freePort(),
    };
    writeFileSync(
      join(check, 'env'),
      `${Object.entries(env)
        .map(([k, v]) => `${k}=${v}\nexport ${k}\n`)
        .join('')}`,
      { mode: 0o600 },
    );
    const started = Date.now();
    const booted = await bootContainer({
      unit: 'pairlink-check.service',
      unitFile: join(REPO_ROOT, 'test', 'systemd', 'pairlink-check.service'),
      readOnly: [
        [process.execPath, '/usr/bin/node'],
        [join(REPO_ROOT, 'dist'), '/opt/pairlink/dist'],
        [join(REPO_ROOT, 'package.json'), '/opt/pairlink/package.json'],
        // (A symlink, in a worktree sharing another's, is resolved by bootContainer.)
        [join(REPO_ROOT, 'node_modules'), '/opt/pairlink/node_modules'],
        [check, '/check'],
      ],
      writable: [[results, '/results']],
    });
    console.info(
      `container ran the check in ${((Date.now() - started) / 1000).toFixed(0)} s (exit ${booted.code})`,
    );
    const stepsFile = join(results, 'steps');
    steps = existsSync(stepsFile)
      ? readFileSync(stepsFile, 'utf8').trim().split('\n')
      : [`no check ran; the container said:\n${booted.console.slice(-3000)}`];
  }, 900_000);

  afterAll(async () => {
    await discord.stop();
  });

  it('every check passed, in order, and the script ran to its end', () => {
    expect(steps).toEqual([...STEPS.map((s) => `ok ${s}`), 'done']);
  });

  it('the group member and root reach the same system agent, which keeps its identity and peer across a restart', () => {
    const did = read('did-before.json').did;
    expect(did).toMatch(/^did:key:z6Mk/);
    expect(read('did-root.json').did).toBe(did);
    expect(read('did-after.json').did).toBe(did);
    const peers = read('peers-before.json');
    expect(peers.map((p: { name: string }) => p.name)).toEqual(['second']);
    expect(read('peers-after.json')).toEqual(peers);
  });

  it('a user outside the pairlink group is told which group lets it in, in one sentence', () => {
    const refused = readFileSync(join(results, 'refused.txt'), 'utf8').trim();
    expect(refused.split('\n')).toHaveLength(1);
    expect(refused).toContain('cannot connect to /run/pairlink/agent.sock (EACCES)');
    expect(refused).toContain('sudo usermod -aG pairlink $USER');
  });

  it('systemd-analyze security rates the installed agent and relay units 3.0 or less', () => {
    const security = readFileSync(join(results, 'security'), 'utf8');
    const levels = [...security.matchAll(/Overall exposure level for (\S+): (\d+\.\d+)/g)];
    expect(levels.map(([, unit]) => unit)).toEqual(['pairlink-agent.service', 'pairlink-relay.service']);
    for (const [, , level] of levels) expect(Number(level)).toBeLessThanOrEqual(3.0);
  });
});
