/** The desktop entry that makes `pairlink://` links open `pairlink accept` (freedesktop.org). */
export const DESKTOP_FILE = 'pairlink-url-handler.desktop';
export const SCHEME_MIME = 'x-scheme-handler/pairlink';

/**
 * Quotes one Exec= argument per the Desktop Entry Specification: arguments with reserved
 * characters go in double quotes, inside which `"`, `` ` ``, `$` and `\` are backslash-escaped;
 * the value as a whole is then a string, in which a backslash is written twice.
 */
function execArg(arg: string): string {
  if (/^[A-Za-z0-9_./:@+=,-]+$/.test(arg)) return arg;
  const quoted = `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
  return quoted.replace(/\\/g, '\\\\');
}

/**
 * A hidden application, registered for the pairlink URL scheme, that runs `pairlink accept
 * --url-handler` with the link in PAIRLINK_INVITE: the environment of a process is readable only
 * by its owner, while its arguments are public (and a Terminal=true entry would hand them to a
 * terminal emulator, which keeps them in its own process list entry for the whole session). The
 * handler hands the link to the agent at once and opens a terminal on `accept --follow <id>`.
 */
export function desktopEntry(node: string, bin: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=pairlink',
    'Comment=Accept a pairlink invite: pair this machine with the one that sent it',
    `Exec=env PAIRLINK_INVITE=%u ${[node, bin, 'accept', '--url-handler'].map(execArg).join(' ')}`,
    'Terminal=false',
    'NoDisplay=true',
    `MimeType=${SCHEME_MIME};`,
    'Categories=Network;',
    '',
  ].join('\n');
}

/** Where the entry goes: $XDG_DATA_HOME/applications. */
export function desktopEntryPath(home: string, xdgData: string | undefined): string {
  return `${xdgData ?? `${home}/.local/share`}/applications/${DESKTOP_FILE}`;
}
