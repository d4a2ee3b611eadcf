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
 * A hidden application that runs `pairlink accept <link>` in a terminal (so its progress and
 * security code are visible), registered for the pairlink URL scheme.
 */
export function desktopEntry(node: string, bin: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=pairlink',
    'Comment=Accept a pairlink invite: pair this machine with the one that sent it',
    `Exec=${[node, bin, 'accept'].map(execArg).join(' ')} %u`,
    'Terminal=true',
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
