import { parseArgs } from 'node:util';
import type { Command, Options } from './command.js';
import { nearestName } from './did-you-mean.js';
import { EXIT } from './exit-codes.js';
import { type Io, processIo, reportError, UsageError } from './output.js';

const COMMON: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

// Handlers are imported on first use so that a quick command loads nothing it does not need.
const COMMANDS: Record<string, () => Promise<Command>> = {
  up: async () => (await import('./commands/up.js')).upCommand,
  relay: async () => (await import('./commands/relay.js')).relayCommand,
  bot: async () => (await import('./commands/bot.js')).botCommand,
  service: async () => (await import('./commands/service.js')).serviceCommand,
  agent: async () => (await import('./commands/agent.js')).agentCommand,
  invite: async () => (await import('./commands/invite.js')).inviteCommand,
  accept: async () => (await import('./commands/accept.js')).acceptCommand,
  confirm: async () => (await import('./commands/confirm.js')).confirmCommand,
  invites: async () => (await import('./commands/invites.js')).invitesCommand,
  cancel: async () => (await import('./commands/cancel.js')).cancelCommand,
  peers: async () => (await import('./commands/peers.js')).peersCommand,
  unpair: async () => (await import('./commands/unpair.js')).unpairCommand,
  ping: async () => (await import('./commands/ping.js')).pingCommand,
  rotate: async () => (await import('./commands/rotate.js')).rotateCommand,
  devices: async () => (await import('./commands/rotate.js')).devicesCommand,
  'revoke-device': async () => (await import('./commands/rotate.js')).revokeDeviceCommand,
  whoami: async () => (await import('./commands/whoami.js')).whoamiCommand,
  rpc: async () => (await import('./commands/rpc.js')).rpcCommand,
  events: async () => (await import('./commands/events.js')).eventsCommand,
  wait: async () => (await import('./commands/wait.js')).waitCommand,
  log: async () => (await import('./commands/log.js')).logCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
};

function help(): string {
  return [
    'pairlink — pair two agents into mutually trusted peers with one paste.',
    '',
    'Usage: pairlink <command> [options]   (every command takes --json and --help)',
    '',
    'Commands:',
    '  up                 Start a local relay and an agent on embedded defaults (what `npm start` runs)',
    '  agent              Run the agent (identity, keystore, pairing, JSON-RPC socket) in the foreground',
    '  invite             Mint an invite link or code',
    '  accept [invite]    Accept an invite link or code (no argument: read from stdin or asked for)',
    '  confirm <id> yes|no  Confirm or reject a security code (SAS) after comparing it',
    '  invites            List pending invites',
    '  cancel <id>        Cancel an invite',
    '  peers              List pinned peers',
    '  unpair <did>       Unpin a peer and tell it (--local-only: here only)',
    '  ping <did>         Whether a peer answers now',
    "  rotate             Replace this identity's keys; every peer re-pins (--compromised)",
    "  devices            This identity's devices added from this agent",
    '  revoke-device <name>  Cut a device off: a rotation every peer applies',
    "  whoami             Show this agent's identity",
    '  rpc <method> [json]  Call any agent method',
    '  events             Stream invite progress and peer removals (NDJSON with --json)',
    '  wait <id>          Wait until an invite or accept is paired (for shell scripts)',
    '  log                What happened: who minted each invite, who joined, what failed',
    '  relay              Run a relay (the untrusted mailbox bus) in the foreground',
    '  bot discord        Run the Discord bot (/invite into channels, /accept relayed to the agent)',
    '  bot matrix         Run the Matrix bot (!pair invite into rooms, !pair accept relayed to the agent)',
    '  service install|uninstall|status   The agent as a system service (systemd or launchd)',
    '  inspect <invite>   Verify an invite URL or code locally and show what it says',
    '  demo               Pair two in-memory agents by URL and by code, and show every step',
    '',
    'Exit codes: 0 ok, 1 failed, 2 usage, 3 agent or relay unavailable (or port taken), 4 accept still pending.',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.out('pairlink 0.1.0');
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  const json = rest.includes('--json');
  if (!load) {
    const near = nearestName(name, Object.keys(COMMANDS));
    const hint = near ? `did you mean ${near}? see pairlink --help` : 'see pairlink --help';
    return reportError(io, new UsageError(`unknown command "${name}" (${hint})`), json);
  }
  const command = await load();
  const options = { ...COMMON, ...command.options };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options,
      allowPositionals: command.allowPositionals,
      strict: true,
    });
  } catch (error) {
    const problem = unknownOption(rest, options, name) ?? (error as Error).message;
    return reportError(io, new UsageError(`${problem}\nUsage: ${command.usage}`), json);
  }
  if (parsed.values.help) {
    io.out(`${command.summary}\n\nUsage: ${command.usage}`);
    return EXIT.ok;
  }
  try {
    return await command.run({ ...parsed, io });
  } catch (error) {
    // A file this user may not read or write is named with its mode and owner (loaded only then).
    const { explainAccessError } = await import('../io/access-error.js');
    return reportError(io, await explainAccessError(error), Boolean(parsed.values.json));
  }
}

/**
 * "unknown option --wiat for accept (did you mean --wait?)" for the first option `args` has that
 * the command does not (node:util's own text for it ends in advice with an unbalanced quote).
 */
function unknownOption(args: readonly string[], options: Options, command: string): string | undefined {
  const { tokens } = parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const unknown = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(options, t.name));
  if (unknown?.kind !== 'option') return undefined;
  const near = nearestName(
    unknown.name,
    Object.keys(options).filter((o) => o.length > 1),
  );
  return `unknown option ${unknown.rawName} for ${command}${near ? ` (did you mean --${near}?)` : ''}`;
}
