import { LogService } from 'matrix-bot-sdk';
import type { Logger } from 'pino';

/** What the SDK passed, as one line of text (errors by their message), at most 500 characters. */
function text(messageOrObject: readonly unknown[]): string {
  return messageOrObject
    .map((m) => (typeof m === 'string' ? m : ((m as Error)?.message ?? JSON.stringify(m))))
    .join(' ')
    .slice(0, 500);
}

/**
 * matrix-bot-sdk's own logging, into ours: one entry per SDK line, its module as a field and its
 * text as the message (pino's `msg`, once); its errors as warnings, the rest at debug.
 */
export function routeSdkLogs(log: Logger): void {
  const quiet = (module: string, rest: unknown[]) => log.debug({ module }, `matrix-bot-sdk: ${text(rest)}`);
  LogService.setLogger({
    trace: () => undefined,
    debug: () => undefined,
    info: (module: string, ...rest: unknown[]) => quiet(module, rest),
    warn: (module: string, ...rest: unknown[]) => quiet(module, rest),
    // The SDK reports a missing state event or account data (m.direct, a room without
    // m.room.encryption) as an error, and so the requests a stopping bot aborts: ordinary, not
    // worth a warning.
    error: (module: string, ...rest: unknown[]) => {
      const message = `matrix-bot-sdk: ${text(rest)}`;
      if (/M_NOT_FOUND|404|the bot is stopping/.test(message)) log.debug({ module }, message);
      else log.warn({ module }, message);
    },
  });
}
