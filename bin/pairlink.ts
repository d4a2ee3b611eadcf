#!/usr/bin/env node
// The `pairlink` executable: loads only the dispatcher; each command loads what it needs.

// First of all, before any module loads: an invite given as an argument is a bearer secret that
// every local user can read in /proc/<pid>/cmdline. Overwrite the process title (which on Linux
// rewrites that memory) so only "pairlink accept" remains. docs/SECURITY.md says what is left.
const [verb] = process.argv.slice(2);
if (verb === 'accept' || verb === 'rpc') process.title = `pairlink ${verb}`;

const { main } = await import('../cli/main.js');

// A reader that went away (`pairlink peers | head -1`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
