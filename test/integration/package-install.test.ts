import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCaptured } from '../support/accept-process.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { PAIRLINK_BIN, type RelayProcess, startRelayProcess } from '../support/relay-process.js';

// pairlink as a user installs it without the checkout (README, "Install"): the package packed
// with `npm pack`, installed with `npm install -g` into a temporary prefix, then used from a
// directory outside the checkout with only that prefix's bin (and node) on PATH: two agents pair,
// examples/pair.sh runs, `service install --dry-run` names the installed program, the Matrix bot
// loads. And `npx pairlink` in a project that depends on the tarball.

const run = promisify(execFile);
const REPO = resolve(PAIRLINK_BIN, '../../..');
// A global install builds keytar from source (its prebuilt download is unreachable here) on a
// loaded 2-core machine: a bound against a hang, not a figure. Seen here: 35-50 s.
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/**
 * npm's environment for the installs: this process's (npm test sets npm_config_* from the
 * user's config, such as nodedir and the cache) without what points npm at the checkout or at
 * the real global prefix.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['npm_config_local_prefix', 'npm_config_prefix', 'npm_config_global_prefix', 'INIT_CWD'])
    delete env[name];
  delete env.NODE_PATH;
  return env;
}

/**
 * `npm install` of the tarball, resolved from the npm cache that `npm ci` filled where it can.
 * Not --offline: `npm ci` fetches tarballs by the lockfile and never the packuments (the version
 * lists) that an install without a lockfile needs to resolve ranges (--offline: ENOTCACHED), so
 * those come from the registry; nothing is fetched from anywhere else.
 */
async function npmInstall(args: string[], cwd: string): Promise<void> {
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...args], {
    cwd,
    env: npmEnv(),
    timeout: INSTALL_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: { stdout: string; stderr: string; message: string }) => {
    throw new Error(
      `npm install ${args.join(' ')} failed: ${error.message}\n${error.stdout}\n${error.stderr}`,
    );
  });
}

let root: string;
let prefix: string;
let elsewhere: string;
let bin: string;
let installed: string;
let project: string;
let path: string;
let relay: RelayProcess;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  root = testRoot();
  prefix = join(root, 'prefix');
  project = join(root, 'project');
  elsewhere = join(root, 'elsewhere');
  for (const dir of [project, elsewhere]) mkdirSync(dir);
  // dist/ is built (npm test builds first); --ignore-scripts skips `prepare`, which would build it again.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], {
    cwd: REPO,
    env: { ...npmEnv(), npm_config_loglevel: 'silent' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const tarball = join(root, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true }));
  await Promise.all([
    npmInstall(['--global', '--prefix', prefix, tarball], elsewhere),
    // The project's install leaves out keytar (optional): the global one above proves it builds.
    npmInstall(['--prefix', project, '--omit=optional', tarball], project),
  ]);
  bin = join(prefix, 'bin', 'pairlink');
  installed = join(prefix, 'lib', 'node_modules', 'pairlink');
  // Only the prefix's bin, node and the system's tools: no checkout, no node_modules/.bin.
  path = `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`;
  relay = await startRelayProcess([], {}, { bin, cwd: elsewhere });
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await relay?.stop();
});

/** An agent run by the installed `pairlink`, from outside the checkout. */
async function installedAgent(name: string): Promise<AgentProcess> {
  const agent = await startAgent(
    root,
    name,
    relay.url,
    { PATH: path },
    [],
    [],
    ['env', '-C', elsewhere],
    bin,
  );
  agents.push(agent);
  return agent;
}

/** The installed `pairlink <args>` from outside the checkout, with `agent`'s environment. */
async function pairlink(agent: AgentProcess, args: string[], input?: string): Promise<string> {
  const run = spawnCaptured(bin, args, { cwd: elsewhere, env: agent.env, stdin: input ?? '' });
  const { code } = await run.closed;
  const { stdout, stderr } = run.output();
  expect(code, `pairlink ${args[0]}: ${stdout}\n${stderr}`).toBe(0);
  return stdout;
}

describe('the package installed with npm install -g from the packed tarball', () => {
  it('is a copy in the prefix, not a link to the checkout, and carries what the docs point to', () => {
    expect(lstatSync(installed).isDirectory()).toBe(true);
    expect(realpathSync(bin)).toBe(join(realpathSync(installed), 'dist', 'bin', 'pairlink.cjs'));
    for (const file of [
      'config.example.json',
      'bots/discord/config.example.json',
      'bots/matrix/config.example.json',
      'docs/BOTS.md',
      'docs/RELAY.md',
      'examples/pair.sh',
      'examples/pair.py',
      'dist/examples/pair.js',
    ])
      expect(existsSync(join(installed, file)), file).toBe(true);
    // The tests and benchmarks are for the checkout: not shipped.
    expect(existsSync(join(installed, 'dist', 'test'))).toBe(false);
    expect(existsSync(join(installed, 'dist', 'bench'))).toBe(false);
  });

  it('pairs two agents from another directory, with only its bin on PATH', async () => {
    const [ann, ben] = await Promise.all([installedAgent('ann'), installedAgent('ben')]);
    const created = JSON.parse(await pairlink(ann, ['invite', '--json', '--no-qr'])) as { url: string };
    // The link on stdin, as the README says (never an argument).
    const accepted = JSON.parse(await pairlink(ben, ['accept', '--json', '--wait', '30s'], created.url)) as {
      status: string;
    };
    expect(accepted.status).toBe('paired');
    const peers = JSON.parse(await pairlink(ben, ['peers', '--json'])) as { name: string }[];
    expect(peers.map((p) => p.name)).toEqual(['ann']);
  });

  it('runs its examples/pair.sh with the installed pairlink, and the other side accepts what it prints', async () => {
    const [cal, dee] = await Promise.all([installedAgent('cal'), installedAgent('dee')]);
    const script = join(installed, 'examples', 'pair.sh');
    const child = spawn('sh', [script], { cwd: elsewhere, env: cal.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    let accepted: Promise<string> | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      const invite = /^invite (\S+)$/.exec(line)?.[1];
      if (invite && !accepted) accepted = pairlink(dee, ['accept', '--json', '--wait', '30s'], invite);
    });
    expect(await exited, `${output}\n${stderr}`).toBe(0);
    expect(accepted, 'pair.sh printed an invite').toBeDefined();
    expect(JSON.parse(await accepted!)).toMatchObject({ status: 'paired' });
    expect(output).toMatch(/^paired with dee$/m);
  });

  it('service install --dry-run writes a unit that runs the installed program', async () => {
    const home = join(root, 'home');
    mkdirSync(home);
    const env = { PATH: path, HOME: home, XDG_CONFIG_HOME: join(home, 'cfg') };
    const { stdout } = await run(bin, ['service', 'install', '--dry-run', '--json'], { cwd: elsewhere, env });
    const [unit] = (JSON.parse(stdout) as { files: { path: string; content: string }[] }).files;
    expect(unit!.path).toBe(join(home, 'cfg', 'systemd', 'user', 'pairlink-agent.service'));
    const execStart = /^ExecStart=(.*)$/m.exec(unit!.content)?.[1];
    expect(execStart).toContain(join(realpathSync(installed), 'dist', 'bin', 'pairlink.cjs'));
    expect(execStart).not.toContain(REPO);
  });

  it('runs the Matrix bot: it loads and says the homeserver cannot be reached', async () => {
    const config = join(root, 'matrix.json');
    const example = readFileSync(join(installed, 'bots', 'matrix', 'config.example.json'), 'utf8');
    const closed = `http://127.0.0.1:${await freePort()}`;
    writeFileSync(config, example.replace('https://matrix.example.org', closed));
    const failure = await run(bin, ['bot', 'matrix', '--config', config], {
      cwd: elsewhere,
      env: { PATH: path, HOME: root, MATRIX_ACCESS_TOKEN: 'token', PAIRLINK_SOCKET: join(root, 'none.sock') },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure.stderr).not.toContain('a bug');
    expect(failure.stderr).toContain('The chat server cannot be reached');
    expect(failure.code).toBe(1);
  });
});

describe('npx pairlink in a project that depends on the tarball', () => {
  it('runs the project’s pairlink', async () => {
    const { stdout } = await run('npx', ['--no-install', 'pairlink', '--version'], {
      cwd: project,
      env: { ...npmEnv(), PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
    });
    expect(stdout.trim()).toBe(
      `pairlink ${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version}`,
    );
  });
});
