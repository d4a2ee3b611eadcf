import { createServer, type Server } from 'node:http';

/**
 * `GET /healthz` on loopback: 200 `{status:"ok",…}` when `check` says healthy, else 503
 * `{status:"unavailable",…}`; anything else is 404. Resolves once listening.
 */
export async function startHealthServer(
  port: number,
  check: () => Promise<{ ok: boolean } & Record<string, unknown>>,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    check().then(
      ({ ok, ...detail }) => {
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', ...detail }));
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'unavailable' }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}
