#!/usr/bin/env node
// The `pairlink` executable: loads only the dispatcher; each command loads what it needs.
import { main } from '../cli/main.js';

// A reader that went away (`pairlink peers | head -1`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
