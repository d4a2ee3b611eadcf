import { stat } from 'node:fs/promises';
import { readFileIfExists } from './secure-files.js';

/** What reading a bounded JSON file found; the file itself is never changed. */
export type JsonFileRead<T> =
  | { readonly status: 'missing' }
  | { readonly status: 'read'; readonly value: T }
  | { readonly status: 'too-large'; readonly maxBytes: number }
  | { readonly status: 'damaged'; readonly reason: string };

/**
 * Reads a state file of at most `maxBytes` (its size is checked before anything is read) and
 * decodes it with `decode` (a schema's parse, say). Text that is not JSON, or that `decode`
 * throws on, is `damaged` with the reason; the caller words the refusal, with its own advice.
 */
export async function readJsonFile<T>(
  path: string,
  maxBytes: number,
  decode: (value: unknown) => T,
): Promise<JsonFileRead<T>> {
  // A file that cannot be stat-ed is read below, which says whether it exists.
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  );
  if (size > maxBytes) return { status: 'too-large', maxBytes };
  const raw = await readFileIfExists(path);
  if (!raw) return { status: 'missing' };
  try {
    return { status: 'read', value: decode(JSON.parse(raw.toString('utf8'))) };
  } catch (error) {
    return { status: 'damaged', reason: (error as Error).message };
  }
}
