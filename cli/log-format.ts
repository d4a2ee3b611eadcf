/** How a long-running command writes its log: JSON lines, or one readable line per entry. */
export type LogFormat = 'json' | 'pretty';

/**
 * The format from --log-format, else PAIRLINK_LOG_FORMAT, else readable in a terminal and JSON
 * lines when the output goes to a file, a pipe or a journal (where tools read it).
 */
export function chooseLogFormat(flag: unknown, env: NodeJS.ProcessEnv, isTty: boolean): LogFormat | null {
  const chosen = (flag as string | undefined) ?? env.PAIRLINK_LOG_FORMAT;
  if (chosen === undefined || chosen === '') return isTty ? 'pretty' : 'json';
  return chosen === 'json' || chosen === 'pretty' ? chosen : null;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Keys every entry has, shown in the line's head or not at all. */
const HEAD_KEYS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** A value as it reads in `key=value`: bare when it has no space, quote or '=', else JSON-quoted. */
function show(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** `key=value` pairs, nested objects flattened with dots (`peer.did=…`), at most three deep. */
function pairs(value: Record<string, unknown>, prefix: string, depth: number, out: string[]): void {
  for (const [key, inner] of Object.entries(value)) {
    const name = `${prefix}${key}`;
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner) && depth < 3)
      pairs(inner as Record<string, unknown>, `${name}.`, depth + 1, out);
    else out.push(`${name}=${show(inner)}`);
  }
}

/**
 * One pino JSON line as a person reads it: `14:03:07.512 INFO  agent ready  did=did:key:… relay=…`
 * (local time). A line that is not a JSON object is returned as it is.
 */
export function prettyLogLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line.trimEnd();
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return line.trimEnd();
  const record = entry as Record<string, unknown>;
  const time = typeof record.time === 'number' ? new Date(record.time) : new Date();
  const clock = [time.getHours(), time.getMinutes(), time.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  const stamp = `${clock}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  const level = LEVEL_NAMES[record.level as number] ?? String(record.level ?? '');
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!HEAD_KEYS.has(key)) rest[key] = value;
  const fields: string[] = [];
  pairs(rest, '', 0, fields);
  const message = typeof record.msg === 'string' ? record.msg : '';
  const head = `${stamp} ${level.padEnd(5)} ${message}`;
  return fields.length === 0 ? head.trimEnd() : `${head}  ${fields.join(' ')}`;
}

/** A pino destination that writes each entry as a readable line through `write`. */
export function prettyDestination(write: (text: string) => void): { write(line: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') write(`${prettyLogLine(line)}\n`);
    },
  };
}
