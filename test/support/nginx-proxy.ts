import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const RELAY_DOC = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../docs/RELAY.md');

/** Debian's nginx (package nginx; .ci/run installs it), or null when it is not installed. */
export function nginxBinary(): string | null {
  return ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path)) ?? null;
}

/** docs/RELAY.md's nginx server block: the recipe operators copy, run as written. */
export function documentedNginxRecipe(): string {
  const block = /```nginx\n([\s\S]*?)```/.exec(readFileSync(RELAY_DOC, 'utf8'))?.[1];
  if (!block) throw new Error('docs/RELAY.md has no nginx block');
  return block;
}

export interface NginxProxy {
  /** The https URL agents use (the certificate names 127.0.0.1). */
  readonly url: string;
  /** Starts nginx (again) and resolves once it proxies /healthz to the relay. */
  start(): Promise<void>;
  /** Stops nginx (SIGTERM: connections are cut, as a crash or a fast restart would). */
  stop(): Promise<void>;
}

/**
 * nginx in front of `relayPort`, on a loopback port, with docs/RELAY.md's server block changed
 * only in its listen port, certificate paths and relay port. Everything nginx writes (pid, logs,
 * temporary files) stays under `dir`; in the foreground (`daemon off`), so the test owns it.
 */
export function nginxProxy(options: {
  dir: string;
  port: number;
  relayPort: number;
  certFile: string;
  keyFile: string;
  ca: string;
}): NginxProxy {
  const binary = nginxBinary();
  if (!binary) throw new Error('nginx is not installed');
  const { dir } = options;
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const recipe = documentedNginxRecipe()
    .replace('listen 443 ssl;', `listen 127.0.0.1:${options.port} ssl;`)
    .replace('/etc/letsencrypt/live/relay.example.org/fullchain.pem', options.certFile)
    .replace('/etc/letsencrypt/live/relay.example.org/privkey.pem', options.keyFile)
    .replace('http://127.0.0.1:7457', `http://127.0.0.1:${options.relayPort}`);
  const conf = join(dir, 'nginx.conf');
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      // As root, nginx would run its worker as nobody, who cannot enter the test's 0700 directory.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'logs', 'error.log')} notice;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'logs', 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${temp(name)}`),
      recipe,
      '}',
      '',
    ].join('\n'),
  );
  const url = `https://127.0.0.1:${options.port}`;
  let child: ChildProcess | null = null;
  const healthy = () =>
    new Promise<boolean>((done) => {
      const probe = request(`${url}/healthz`, { ca: options.ca }, (response) => {
        response.resume();
        done(response.statusCode === 200);
      });
      probe.on('error', () => done(false));
      probe.end();
    });
  return {
    url,
    async start() {
      const started = spawn(binary, ['-p', dir, '-e', join(dir, 'logs', 'error.log'), '-c', conf], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      started.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child = started;
      await waitFor(async () => {
        if (started.exitCode !== null) throw new Error(`nginx exited with ${started.exitCode}: ${stderr}`);
        return healthy();
      }, 'nginx to proxy /healthz');
    },
    stop() {
      const running = child;
      child = null;
      return new Promise((done) => {
        if (!running || running.exitCode !== null || running.signalCode !== null) return done();
        running.once('exit', () => done());
        running.kill('SIGTERM');
      });
    },
  };
}
