#!/usr/bin/env node
// The `pairlink` executable. Installed as dist/bin/pairlink.cjs: one CommonJS file bundled by
// esbuild (scripts/bundle-cli.mjs) so that Node starts it without the ESM loader or any package
// resolution; each command's code runs only when that command is used. dist/bin/pairlink.js, the
// plain tsc output, does the same work more slowly.

import { installRejectionGuard } from '../cli/rejection-guard.js';

// First of all, before any command loads: an invite given as an argument is a bearer secret that
// every local user can read in /proc/<pid>/cmdline. Overwrite the process title (which on Linux
// rewrites that memory) so only "pairlink accept" remains. docs/SECURITY.md says what is left.
const [verb] = process.argv.slice(2);
if (verb === 'accept' || verb === 'rpc') process.title = `pairlink ${verb}`;

installRejectionGuard();

// A reader that went away (`pairlink peers | head -1`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

void import('../cli/main.js')
  .then(({ main }) => main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });
