import { readFileSync } from 'node:fs';
import { defaultConfig, type PairlinkConfig, parseConfig } from '../src/config/schema.js';
import { PairlinkError } from '../src/errors.js';

/** Reads and validates a config file; the defaults when `path` is undefined. */
export function loadConfigFile(path: string | undefined): PairlinkConfig {
  if (path === undefined) return defaultConfig();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (text.length > 1024 * 1024)
    throw new PairlinkError('TOO_LARGE', `config file ${path} is larger than 1 MiB`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PairlinkError(
      'INVALID_PARAMS',
      `config file ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  return parseConfig(json, path);
}
