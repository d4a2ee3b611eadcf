import type { IFilterInfo, IStorageProvider } from 'matrix-bot-sdk';
import { readJsonFile } from '../../io/json-file.js';
import { writeFileAtomic } from '../../io/secure-files.js';
import { PairlinkError } from '../../src/errors.js';

const MAX_FILE_BYTES = 1024 * 1024;
/** How many handled event ids are remembered (duplicates within them are ignored). */
export const SEEN_EVENTS = 500;

interface SyncFile {
  version: 1;
  syncToken: string | null;
  filter: IFilterInfo | null;
  values: Record<string, string>;
  seen: string[];
}

/**
 * matrix-bot-sdk's storage in one 0600 JSON file in the bot's 0700 state directory, written
 * atomically: the sync token, the filter, the SDK's key/values, and the ids of the last events the
 * bot handled (so a restart neither replays nor loses a command). The bot sets the SDK to save the
 * sync token after a sync is processed, and the seen ids are written with it.
 */
export class FileSyncStorage implements IStorageProvider {
  private writing: Promise<void> = Promise.resolve();
  private readonly seenSet: Set<string>;

  private constructor(
    readonly file: string,
    private readonly data: SyncFile,
  ) {
    this.seenSet = new Set(data.seen);
  }

  static async open(file: string): Promise<FileSyncStorage> {
    const read = await readJsonFile(file, MAX_FILE_BYTES, syncFile);
    if (read.status === 'too-large')
      throw new PairlinkError('INVALID_PARAMS', `${file} is too large for a sync file`);
    if (read.status === 'damaged')
      throw new PairlinkError(
        'INVALID_PARAMS',
        `${file} is damaged (${read.reason}); move it away to start afresh (the bot then syncs from now)`,
      );
    const fresh: SyncFile = { version: 1, syncToken: null, filter: null, values: {}, seen: [] };
    return new FileSyncStorage(file, read.status === 'read' ? read.value : fresh);
  }

  /** True when the event was already handled; otherwise remembers it (saved with the next token). */
  seen(eventId: string): boolean {
    if (this.seenSet.has(eventId)) return true;
    this.seenSet.add(eventId);
    this.data.seen.push(eventId);
    while (this.data.seen.length > SEEN_EVENTS) this.seenSet.delete(this.data.seen.shift()!);
    return false;
  }

  setSyncToken(token: string | null): Promise<void> {
    this.data.syncToken = token;
    return this.save();
  }

  getSyncToken(): string | null {
    return this.data.syncToken;
  }

  setFilter(filter: IFilterInfo): Promise<void> {
    this.data.filter = filter;
    return this.save();
  }

  getFilter(): IFilterInfo {
    return this.data.filter as IFilterInfo;
  }

  storeValue(key: string, value: string): Promise<void> {
    this.data.values[key] = value;
    return this.save();
  }

  readValue(key: string): string | undefined {
    return this.data.values[key];
  }

  flush(): Promise<void> {
    return this.writing;
  }

  private save(): Promise<void> {
    const text = `${JSON.stringify(this.data)}\n`;
    this.writing = this.writing.catch(() => undefined).then(() => writeFileAtomic(this.file, text));
    return this.writing;
  }
}

/** A sync file's contents, checked field by field (the SDK's filter is kept as it gave it). */
function syncFile(value: unknown): SyncFile {
  const parsed = value as SyncFile;
  if (
    parsed.version !== 1 ||
    (parsed.syncToken !== null && typeof parsed.syncToken !== 'string') ||
    typeof parsed.values !== 'object' ||
    parsed.values === null ||
    !Array.isArray(parsed.seen) ||
    !parsed.seen.every((s) => typeof s === 'string')
  )
    throw new Error('unexpected contents');
  return parsed;
}
