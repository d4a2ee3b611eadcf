import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { freePort } from './free-port.js';

export interface RedisServer {
  readonly url: string;
  stop(): Promise<void>;
}

const REDIS_BIN = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(existsSync);

/**
 * Starts a real, throw-away redis-server on a free loopback port (no persistence). Tests need the
 * Debian package `redis-server`; `.ci/run` installs it. Without it this throws: never a mock.
 */
export async function startRedis(): Promise<RedisServer> {
  if (!REDIS_BIN)
    throw new Error('redis-server is not installed (Debian package redis-server; .ci/run installs it)');
  const port = await freePort();
  const child: ChildProcess = spawn(
    REDIS_BIN,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
