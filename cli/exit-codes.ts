/** Exit codes of the `pairlink` CLI (documented in README.md). */
export const EXIT = {
  ok: 0,
  /** The operation failed with a domain error (expired invite, wrong code, …). */
  failed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** The agent (or the relay) could not be reached, or the port to listen on is taken. */
  unavailable: 3,
  /** An accept is still pending after --wait; it completes in the background. */
  pending: 4,
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM while waiting (128 + the signal's number, the shell's convention). */
  SIGINT: 130,
  SIGTERM: 143,
} as const;
