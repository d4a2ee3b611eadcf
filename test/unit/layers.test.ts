import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The lint rule that keeps the layers apart (biome.json overrides, docs/ARCHITECTURE.md §Layers):
// src/ has no I/O modules and imports no layer above it; bots/ never import cli/ or agent/; only
// pairlink/client itself touches its raw connection; client/ and io/ import no agent, CLI, bot or relay;
// no file imports itself through others (noImportCycles, type-only imports included).

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const BIOME = join(REPO, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');

function lint(path: string, source: string): string {
  // A probe file where the rule applies (biome's stdin mode prints no diagnostics), then removed.
  const probe = join(REPO, path);
  writeFileSync(probe, source);
  try {
    const result = spawnSync(process.execPath, [BIOME, 'lint', probe], { cwd: REPO, encoding: 'utf8' });
    return `${result.stdout}${result.stderr}`;
  } finally {
    rmSync(probe, { force: true });
  }
}

describe('layers', () => {
  it('refuses I/O modules and upper layers in src/, and cli/ or agent/ in bots/', () => {
    expect(
      lint(
        'src/layers-probe.ts',
        "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
      ),
    ).toMatch(/noRestrictedImports/);
    expect(
      lint('src/layers-probe.ts', "import { Agent } from '../agent/agent.js';\nexport const x = Agent;\n"),
    ).toMatch(/noRestrictedImports/);
    expect(
      lint(
        'bots/core/layers-probe.ts',
        "import { withAgent } from '../../cli/agent-connection.js';\nexport const x = withAgent;\n",
      ),
    ).toMatch(/noRestrictedImports/);
    expect(
      lint(
        'bots/core/layers-probe.ts',
        "import { connect } from '../../client/index.js';\nexport const x = connect;\n",
      ),
    ).not.toMatch(/noRestrictedImports/);
  });

  it('keeps the raw connection inside pairlink/client, and the library off the agent', () => {
    for (const probe of ['bots/core/layers-probe.ts', 'cli/layers-probe.ts']) {
      const up = probe.startsWith('bots/') ? '../..' : '..';
      expect(
        lint(
          probe,
          `import { RpcConnection } from '${up}/client/connection.js';\nexport const x = RpcConnection;\n`,
        ),
      ).toMatch(/noRestrictedImports/);
    }
    expect(
      lint('client/layers-probe.ts', "import { Agent } from '../agent/agent.js';\nexport const x = Agent;\n"),
    ).toMatch(/noRestrictedImports/);
  });

  it('refuses an import circle, even one made of type-only imports', () => {
    const other = join(REPO, 'agent/cycle-probe-b.ts');
    writeFileSync(other, "import type { A } from './cycle-probe-a.js';\nexport type B = A[];\n");
    try {
      expect(
        lint(
          'agent/cycle-probe-a.ts',
          "import type { B } from './cycle-probe-b.js';\nexport type A = { b?: B };\n",
        ),
      ).toMatch(/noImportCycles/);
      expect(lint('agent/cycle-probe-a.ts', 'export type A = { b?: string };\n')).not.toMatch(
        /noImportCycles/,
      );
    } finally {
      rmSync(other, { force: true });
    }
  });
});
