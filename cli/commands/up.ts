import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import {
  agentSocketCandidates,
  checkSocketPath,
  LOCAL_DIR,
  resolveAgentPaths,
} from '../../io/agent-paths.js';
import { ensurePrivateDir, readFileIfExists, writeFileAtomic } from '../../io/secure-files.js';
import { startRelay } from '../../relay/server/relay-server.js';
import { defaultConfig } from '../../src/config/schema.js';
import { startAgentRuntime } from '../agent-runtime.js';
import type { Command } from '../command.js';
import { commandLogger } from '../logger.js';
import { UsageError } from '../output.js';
import {
  checkListenHost,
  checkPublicUrl,
  isUnspecified,
  otherMachineLines,
  relayUrlFor,
} from '../public-url.js';
import { relayCaFrom } from '../relay-ca.js';
import { relaySettingsFrom } from '../relay-settings.js';
import { untilSignalled } from '../signals.js';

/**
 * `pairlink up` (what `npm start` runs): a local relay and an agent in one process, on embedded
 * defaults, so someone can try pairlink with nothing set up. The agent uses the file keystore with
 * a generated passphrase file: a local default that is labelled as such, not a production setup.
 * With --host and --public-url the relay listens on a LAN address and the invites name the public
 * URL; the agent reaches its relay through that same URL (one URL, no second address to keep in
 * step), so it must work from this machine too.
 */
export const upCommand: Command = {
  summary: [
    'Start a local relay and an agent together, on embedded defaults, and say what to type next.',
    '',
    'Options:',
    "  --dir <path>    where its files go: the agent's home (<dir>/home), the socket and the",
    '                  passphrase file (default ./.pairlink-local)',
    '  --port <n>      relay port (default 7457)',
    '  --host <addr>   the address the relay listens on (default 127.0.0.1: this machine only);',
    "                  another machine's agent needs one it can reach, e.g. this one's LAN address",
    '  --public-url <url>  the relay URL the invites carry, which the other machine uses (default',
    '                  http://<host>:<port>); this agent uses it too. README, "Two machines"',
    '  --name <name>   agent display name (default: host name)',
    '  --log-format <f>  pretty (default in a terminal) or json (default otherwise)',
  ].join('\n'),
  usage:
    'pairlink up [--dir ./.pairlink-local] [--port 7457] [--host 127.0.0.1] [--public-url URL] [--name NAME] [--log-format json]',
  options: {
    dir: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    name: { type: 'string' },
    'log-format': { type: 'string' },
  },
  allowPositionals: false,
  async run({ values, io }) {
    const dir = resolve((values.dir as string | undefined) ?? LOCAL_DIR);
    const port = Number((values.port as string | undefined) ?? 7457);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError('--port must be 1 to 65535');
    const host = checkListenHost((values.host as string | undefined) ?? '127.0.0.1');
    const publicUrlText = values['public-url'] as string | undefined;
    if (publicUrlText === undefined && isUnspecified(host))
      throw new UsageError(
        `--host ${host} listens on every address: --public-url must say which one the other machine uses`,
      );
    const publicUrl = publicUrlText === undefined ? relayUrlFor(host, port) : checkPublicUrl(publicUrlText);
    const lan = values.host !== undefined || publicUrlText !== undefined;
    // PAIRLINK_ALLOW_INSECURE_RELAYS=1 and the relay lists, as `pairlink agent` reads them.
    const relaySettings = relaySettingsFrom(defaultConfig(), process.env);
    const logger = commandLogger('pairlink-up', undefined, process.env, 'info', values['log-format']);
    await ensurePrivateDir(dir);
    const passphraseFile = join(dir, 'passphrase');
    const home = join(dir, 'home');
    let socket = join(dir, 'agent.sock');
    if (!fitsSocketPathLimit(socket)) {
      // A deep working directory: fall back to a short private directory under the temp dir.
      const short = join(tmpdir(), `pairlink-${process.getuid?.() ?? 'user'}`);
      await ensurePrivateDir(short, false);
      socket = join(short, 'agent.sock');
    }
    const paths = resolveAgentPaths({ ...process.env, PAIRLINK_HOME: home, PAIRLINK_SOCKET: socket });
    const relay = await startRelay({ host, port, trustProxy: false, logger });
    // Drawn only once the relay listens: a run that fails before (a port taken) leaves no
    // passphrase for a home it never made; one that fails later takes back a passphrase it drew
    // unless the agent already sealed a home with it.
    const drawn = !(await readFileIfExists(passphraseFile));
    let runtime: Awaited<ReturnType<typeof startAgentRuntime>>;
    try {
      if (drawn) await writeFileAtomic(passphraseFile, `${randomBytes(24).toString('base64url')}\n`);
      runtime = await startAgentRuntime({
        paths,
        keystore: 'file',
        passphraseFile,
        relayUrl: publicUrl,
        name: ((values.name as string | undefined) ?? hostname()).slice(0, 64),
        env: { ...process.env, PAIRLINK_PASSPHRASE: '', PAIRLINK_PASSPHRASE_FILE: '' },
        relaySettings,
        relayCa: relayCaFrom(defaultConfig(), process.env),
        logger,
      });
    } catch (error) {
      await relay.close();
      if (drawn && !existsSync(home)) await rm(passphraseFile, { force: true });
      throw error;
    }
    // The CLI finds this agent by itself from here and below (agentSocketCandidates), unless
    // PAIRLINK_SOCKET points elsewhere or the socket is not in ./.pairlink-local.
    const found = agentSocketCandidates(process.env, process.cwd())[0]?.socket === paths.socket;
    io.out(
      [
        'pairlink is up, on local defaults:',
        `  relay   ${publicUrl}  (in memory; stops with this process)${lan ? `; listening on ${relayUrlFor(host, port)}` : ''}`,
        `  agent   ${runtime.agent.name}  ${runtime.agent.did}`,
        `  home    ${home}`,
        `  socket  ${paths.socket}`,
        `  LOCAL DEFAULT: the keystore passphrase is in ${passphraseFile} (mode 0600). For real use run`,
        '  `pairlink agent` with the OS keychain, or a passphrase you manage (README, "Run the agent as a service").',
        '',
        ...(found
          ? [
              'In another terminal, in this directory or below it (the CLI finds this agent there;',
              'README, "Try it: two agents on one machine"):',
            ]
          : [
              'In another terminal (README, "Try it: two agents on one machine"):',
              `  export PAIRLINK_SOCKET=${paths.socket}`,
            ]),
        ...pathLine(process.env),
        '  pairlink invite                # a link to paste to the other side',
        '  pairlink invite --format code  # or a code to read aloud',
        '  pairlink accept                # the other side runs this and pastes the link or code',
        '  pairlink peers',
        '',
        ...(lan ? [...otherMachineLines(publicUrl), ''] : []),
        'Ctrl-C stops the agent and the relay.',
      ].join('\n'),
    );
    await untilSignalled();
    await runtime.close();
    await relay.close();
    return 0;
  },
};

/**
 * The PATH line that puts `pairlink` on PATH when this runs from a clone (dist/bin holds a
 * `pairlink` link to the bundle) whose dist/bin is not on PATH yet; none otherwise.
 */
function pathLine(env: NodeJS.ProcessEnv): string[] {
  const script = process.argv[1];
  if (!script || !existsSync(script)) return [];
  const bin = dirname(realpathSync(script));
  if (!existsSync(join(bin, 'pairlink')) || (env.PATH ?? '').split(delimiter).includes(bin)) return [];
  return [`  export PATH="${bin}:$PATH"`];
}

/** True when `socket` is within the OS limit for Unix socket paths (the agent's own check). */
function fitsSocketPathLimit(socket: string): boolean {
  try {
    checkSocketPath(socket);
    return true;
  } catch {
    return false;
  }
}
