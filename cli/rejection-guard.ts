import { ERROR_TEXT } from '../src/error-text.js';
import { EXIT } from './exit-codes.js';

/**
 * The last resort of every pairlink process (the CLI, the agent, the relay, the bots all start in
 * bin/pairlink.ts): a promise rejection nobody handled is a bug, since every path handles its own
 * (test/integration/cli-no-stack-traces.test.ts holds the CLI to that). Instead of Node's stack trace it
 * says so in one line, with the error's code, and exits 1 as Node would.
 */
export function installRejectionGuard(): void {
  process.on('unhandledRejection', (reason) => {
    // The code by duck type: the agent's PairlinkError (ESM build) is not the bundle's class.
    const code = (reason as { code?: unknown } | null | undefined)?.code;
    const kind = typeof code === 'string' ? code : reason instanceof Error ? reason.name : typeof reason;
    const message = (reason instanceof Error ? reason.message : String(reason)).split('\n')[0]!.slice(0, 200);
    process.stderr.write(`pairlink: ${ERROR_TEXT.INTERNAL} an unhandled rejection (${kind}: ${message})\n`);
    process.exit(EXIT.failed);
  });
}
