import type { ParseArgsConfig } from 'node:util';
import type { Io } from './output.js';

/** A command's options, in node:util parseArgs form. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A CLI command: its help, its options (node:util parseArgs), and a lazily loaded handler. Each
 * command file exports one; `main.ts` lists them and loads one on first use.
 */
export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Options;
  readonly allowPositionals: boolean;
  readonly run: (args: { values: Record<string, unknown>; positionals: string[]; io: Io }) => Promise<number>;
}
