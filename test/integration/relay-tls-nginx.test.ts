import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TEXT } from '../../src/error-text.js';
import { type AgentProcess, startAgent, testRoot } from '../support/agent-process.js';
import { freePort } from '../support/free-port.js';
import { type NginxProxy, nginxBinary, nginxProxy } from '../support/nginx-proxy.js';
import { hasOpenssl, makePrivateCa, type PrivateCa } from '../support/private-ca.js';
import { type RelayProcess, startRelayProcess } from '../support/relay-process.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Debian's real nginx with a private CA's certificate in front of a relay on loopback, configured
 * with docs/RELAY.md's server block: two agents that trust the CA (PAIRLINK_CA_FILE) pair through
 * it by link and by code, an accept pending while nginx is down ends with both pinned once it is
 * back, and an agent that does not trust the CA fails an accept at once with one sentence and one
 * log line naming the relay. NODE_EXTRA_CA_CERTS is unset in every agent.
 */
const usable = nginxBinary() !== null && (await hasOpenssl());
if (!usable && process.env.CI) throw new Error('the nginx test needs Debian packages nginx and openssl');
if (!usable) console.warn('skipped: the nginx test needs nginx and openssl (Debian packages)');

const NO_EXTRA_CAS = { NODE_EXTRA_CA_CERTS: undefined };

describe.skipIf(!usable)('agents through nginx with a private CA', () => {
  let root: string;
  let ca: PrivateCa;
  let relay: RelayProcess;
  let nginx: NginxProxy;
  let ann: AgentProcess;
  let ben: AgentProcess;
  const agents: AgentProcess[] = [];
  const trusting = () => ({ ...NO_EXTRA_CAS, PAIRLINK_CA_FILE: ca.certFile });

  beforeAll(async () => {
    root = testRoot();
    ca = await makePrivateCa(root);
    const certificate = await ca.issue('nginx');
    relay = await startRelayProcess(['--trust-proxy']);
    nginx = nginxProxy({
      dir: join(root, 'nginx'),
      port: await freePort(),
      relayPort: Number(new URL(relay.url).port),
      certFile: certificate.certFile,
      keyFile: certificate.keyFile,
      ca: readFileSync(ca.certFile, 'utf8'),
    });
    await nginx.start();
    [ann, ben] = await Promise.all([
      startAgent(root, 'ann', nginx.url, trusting()),
      startAgent(root, 'ben', nginx.url, trusting()),
    ]);
    agents.push(ann, ben);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await nginx?.stop();
    await relay?.stop();
  });

  it('pairs by link and by code over https and wss through nginx', async () => {
    await waitFor(
      () => [ann, ben].every((a) => a.logs.some((l) => l.includes('"msg":"relay connected"'))),
      'both agents connected over wss through nginx',
    );
    const link = (await ann.json<{ url: string }>(['invite'])).value.url;
    expect(link.startsWith(`${nginx.url}/`)).toBe(true);
    expect((await ben.cli(['accept', link, '--wait', '30s'])).stdout).toContain('Paired with ann');
    const code = (await ann.json<{ code: string }>(['invite', '--format', 'code'])).value.code;
    expect((await ben.cli(['accept', code, '--wait', '30s'])).stdout).toContain('Paired with ann');
  }, 90_000);

  it('an accept pending while nginx restarts ends with both pinned', async () => {
    const link = (await ann.json<{ url: string }>(['invite'])).value.url;
    // The issuer away: the accept is handed over and stays pending at the relay.
    await ann.stop();
    const handed = await ben.json<{ status: string; acceptId: string }>(['accept', link, '--wait', '0s']);
    expect(handed.value.status).toBe('pending');
    const seen = ben.logs.length;
    await nginx.stop();
    await waitFor(
      () => ben.logs.slice(seen).some((l) => l.includes('"msg":"relay disconnected"')),
      'ben to see nginx gone',
    );
    const restarted = ann.logs.length;
    await ann.restart();
    await waitFor(
      () =>
        ann.logs.slice(restarted).some((l) => l.includes(`"msg":"relay ${nginx.url}: it cannot be reached"`)),
      'ann to find nginx down',
    );
    await nginx.start();
    const followed = await ben.cli(['accept', '--follow', handed.value.acceptId, '--wait', '90s']);
    expect(followed.stdout).toContain('Paired with ann');
    await waitFor(
      () => ann.logs.slice(restarted).some((l) => l.includes('"msg":"pairing paired"')),
      'ann to pin ben',
    );
  }, 180_000);

  it('an agent that does not trust the certificate fails an accept at once: one sentence, one log line naming the relay', async () => {
    const home = await startRelayProcess();
    try {
      const cara = await startAgent(root, 'cara', home.url, NO_EXTRA_CAS);
      agents.push(cara);
      const link = (await ann.json<{ url: string }>(['invite'])).value.url;
      const code = (await ann.json<{ code: string }>(['invite', '--format', 'code'])).value.code;
      const byLink = await cara.cli(['accept', link, '--wait', '60s']);
      expect(byLink.code).not.toBe(4); // not "still pending"
      expect(byLink.stderr.trim().split('\n').at(-1)).toBe(`pairlink: ${ERROR_TEXT.RELAY_UNTRUSTED}`);
      const byCode = await cara.cli(['accept', code, '--relay', nginx.url, '--wait', '60s']);
      expect(byCode.stderr.trim().split('\n')).toHaveLength(1);
      expect(byCode.stderr).toContain(ERROR_TEXT.RELAY_UNTRUSTED);
      const warnings = cara.logs.filter((l) => l.includes('"level":40') && l.includes(nginx.url));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({
        relay: nginx.url,
        code: 'RELAY_UNTRUSTED',
        msg: `relay ${nginx.url}: its TLS certificate is not trusted here`,
      });
      expect(cara.logs.filter((l) => l.includes('"msg":"invite relay connected"'))).toEqual([]);

      // Its own relay untrusted: one warning line, and it never says connected.
      const dora = await startAgent(root, 'dora', nginx.url, NO_EXTRA_CAS);
      agents.push(dora);
      await waitFor(
        () => dora.logs.some((l) => l.includes('"code":"RELAY_UNTRUSTED"')),
        "dora's warning about her relay",
      );
      expect(dora.logs.filter((l) => l.includes('"level":40'))).toHaveLength(1);
      expect(dora.logs.filter((l) => l.includes('"msg":"relay connected"'))).toEqual([]);
    } finally {
      await home.stop();
    }
  }, 120_000);
});
