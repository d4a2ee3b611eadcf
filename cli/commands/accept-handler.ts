import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { withAgent } from '../agent-connection.js';
import { EXIT } from '../exit-codes.js';
import type { Io } from '../output.js';
import { UsageError } from '../output.js';
import { INVITE_ENV } from '../secret-input.js';

/** Terminal emulators tried in order, with the flag after which each takes a command and its arguments. */
const TERMINALS: readonly (readonly [string, string])[] = [
  ['x-terminal-emulator', '-e'],
  ['gnome-terminal', '--'],
  ['konsole', '-e'],
  ['xfce4-terminal', '-x'],
  ['kitty', '--'],
  ['alacritty', '-e'],
  ['xterm', '-e'],
];

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/**
 * What the pairlink:// handler runs (Terminal=false, the link in PAIRLINK_INVITE, never in an
 * argument): the link goes to the agent at once, and only the accept id goes on to a terminal,
 * where `pairlink accept --follow <id>` shows progress and asks about the security code.
 */
export async function handleLink(io: Io): Promise<number> {
  const invite = process.env[INVITE_ENV];
  delete process.env[INVITE_ENV];
  if (!invite) throw new UsageError(`--url-handler takes the link from ${INVITE_ENV}`);
  const handedOver = await withAgent((client) => client.call('invite.accept', { invite, waitSeconds: 0 }));
  const follow = [
    process.execPath,
    process.argv[1]!,
    'accept',
    '--follow',
    handedOver.acceptId,
    '--wait',
    '10m',
  ];
  const custom = process.env.TERMINAL;
  const terminal =
    custom && onPath(custom) ? ([custom, '-e'] as const) : TERMINALS.find(([name]) => onPath(name));
  if (!terminal) {
    io.err(
      `Handed to the agent as accept ${handedOver.acceptId}; follow it with: pairlink accept --follow ${handedOver.acceptId}`,
    );
    return handedOver.status === 'paired' ? EXIT.ok : EXIT.pending;
  }
  const child = spawn(terminal[0], [terminal[1], ...follow], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
  return EXIT.ok;
}
