import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, relayWithAgents, testRoot } from '../support/agent-process.js';
import { PAIRLINK_BIN } from '../support/relay-process.js';

// `pairlink/client` as a user's project gets it: the package packed with `npm pack`, unpacked
// into a temporary project's node_modules, imported by its exports map, its types checked by tsc,
// and two agents paired with it.

const run = promisify(execFile);
const REPO = resolve(PAIRLINK_BIN, '../../..');
const fleet = relayWithAgents();
let ann: AgentProcess;
let ben: AgentProcess;
let project: string;

beforeAll(async () => {
  [ann, ben] = await Promise.all([fleet.agent('ann'), fleet.agent('ben')]);
  project = testRoot();
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], {
    cwd: REPO,
    env: { ...process.env, npm_config_loglevel: 'silent' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const tarball = (JSON.parse(stdout) as { filename: string }[])[0]!.filename;
  const target = join(project, 'node_modules', 'pairlink');
  mkdirSync(target, { recursive: true });
  await run('tar', ['-xzf', join(project, tarball), '-C', target, '--strip-components=1']);
  // The package's dependencies, as npm would have installed them (the registry is not needed).
  symlinkSync(join(REPO, 'node_modules'), join(target, 'node_modules'));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', type: 'module', private: true }),
  );
}, 120_000);

describe('pairlink/client from the packed package', () => {
  it('is in the tarball with its types, and a user script pairs two agents with it', async () => {
    const files = readdirSync(join(project, 'node_modules', 'pairlink', 'dist', 'client'));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']));
    const script = join(project, 'pair.mjs');
    writeFileSync(
      script,
      `import { connect, PairlinkError } from 'pairlink/client';
const issuer = await connect({ socket: process.env.ANN });
const acceptor = await connect({ socket: process.env.BEN });
const events = issuer.events();
const invite = await issuer.createInvite({ label: 'from a script' });
const accepted = await acceptor.accept({ invite: invite.url, waitSeconds: 15 });
let paired;
for await (const e of events) if (e.method === 'invite.progress' && e.params.status === 'paired') { paired = e.params; break; }
const peers = await issuer.listPeers();
let refused;
try { await issuer.getInvite('nope'); } catch (e) { refused = e instanceof PairlinkError ? e.code : 'other'; }
console.log(JSON.stringify({ accepted: accepted.status, paired: paired.peer.name, peers: peers.map((p) => p.name), refused }));
issuer.close(); acceptor.close();
`,
    );
    const { stdout } = await run(process.execPath, [script], {
      cwd: project,
      env: { ...process.env, ANN: ann.socket, BEN: ben.socket },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      accepted: 'paired',
      paired: 'ben',
      peers: ['ben'],
      refused: 'UNKNOWN_ID',
    });
  });

  it("its types check in a user's TypeScript project (moduleResolution nodenext)", async () => {
    writeFileSync(
      join(project, 'check.ts'),
      `import { connect, type InviteSummary, PairlinkError } from 'pairlink/client';
const client = await connect();
const invites: readonly InviteSummary[] = await client.listInvites({ all: true });
const created = await client.createInvite({ format: 'code', ttlSeconds: 600 });
const code: string | undefined = created.code;
// @ts-expect-error: a wrong param is a type error
await client.createInvite({ format: 'carrier-pigeon' });
const e = new PairlinkError('TIMEOUT', 'x');
export const used = [invites, code, e.code];
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules', '@types')],
        },
        files: ['check.ts'],
      }),
    );
    await run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], {
      cwd: project,
    }).catch((error: { stdout: string }) => {
      throw new Error(`tsc failed:\n${error.stdout}`);
    });
  });
});
