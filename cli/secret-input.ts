import { PairlinkError } from '../src/errors.js';

/**
 * How much of stdin or a prompt is read at most: a bound on reading (room for the whitespace
 * around a pasted invite), not the invite's own, MAX_INVITE_TEXT_LENGTH, checked after trimming.
 */
export const MAX_INVITE_INPUT_BYTES = 16 * 1024;

/** The environment variable an invite may arrive in (only its owner can read a process's environment). */
export const INVITE_ENV = 'PAIRLINK_INVITE';

/**
 * Reads an invite from a pipe or file on stdin: everything up to EOF, at most 16 KiB, trimmed.
 * Only this process and its owner can see what arrives this way (docs/SECURITY.md §Local users).
 */
export async function readPipedSecret(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_INVITE_INPUT_BYTES) {
      (input as NodeJS.ReadStream).destroy?.();
      throw new PairlinkError('TOO_LARGE', `the invite on stdin is over ${MAX_INVITE_INPUT_BYTES} bytes`);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}

const ESC = String.fromCharCode(27);
const BRACKETED_PASTE = new RegExp(`${ESC}\\[[0-9;]*[~A-Za-z]`, 'g');

/**
 * Asks for an invite in a terminal without echoing it (so it stays off the screen and out of
 * scrollback): raw mode, one line, backspace works, Ctrl-C or Ctrl-D gives up.
 */
export function promptSecret(prompt: string, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const wasRaw = input.isRaw;
    // Echo off before the prompt shows: a paste that follows the prompt at once (a busy machine
    // may stop this process between the two calls) would otherwise be echoed to the screen.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.resume();
    const done = (error: Error | null) => {
      input.setRawMode(wasRaw);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      // Terminals may wrap a paste in bracketed-paste markers (ESC [200~ … ESC [201~): drop them.
      else resolve(text.replace(BRACKETED_PASTE, '').replaceAll(ESC, '').trim());
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done(null);
        if (char === '\u0003' || char === '\u0004')
          return done(new PairlinkError('INVALID_PARAMS', 'no invite entered'));
        if (char === '\u007f' || char === '\b') text = text.slice(0, -1);
        else if (char >= ' ' || char === '\u001b') text += char;
        if (text.length > MAX_INVITE_INPUT_BYTES)
          return done(new PairlinkError('TOO_LARGE', `the invite is over ${MAX_INVITE_INPUT_BYTES} bytes`));
      }
    };
    input.on('data', onData);
  });
}
