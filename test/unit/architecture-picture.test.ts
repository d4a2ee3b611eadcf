import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// docs/ARCHITECTURE.md §Layers draws the layers as a fenced `layers` block: one line per top
// folder, `name/ ─▶ the folders it imports` (or `nothing`). This test holds that picture against
// the imports of every .ts file in those folders, both ways: an import between two folders that
// the picture does not draw fails, and so does an arrow the picture draws that no import makes.
// biome's noRestrictedImports forbids some arrows (test/unit/layers.test.ts); this keeps the
// picture itself true.

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
/** Top folders with TypeScript that are not layers: the package's own clients, and vendored stand-ins. */
const OUTSIDE_THE_PICTURE = new Set(['bench', 'examples', 'test', 'vendor']);

type Picture = ReadonlyMap<string, ReadonlySet<string>>;

/** The `layers` block of the document: each layer and the layers it may import. Throws if malformed. */
function readPicture(markdown: string): Picture {
  const blocks = [...markdown.matchAll(/^```layers\n([\s\S]*?)^```$/gm)];
  if (blocks.length !== 1) throw new Error(`expected one \`\`\`layers block, found ${blocks.length}`);
  const picture = new Map<string, Set<string>>();
  for (const line of blocks[0]![1]!.split('\n').filter((text) => text.trim() !== '')) {
    const match = /^([a-z]+)\/\s+─▶\s+(nothing|(?:[a-z]+\/\s*)+)$/.exec(line.trim());
    if (!match) throw new Error(`not a layer line: ${line}`);
    const [, layer, targets] = match;
    if (picture.has(layer!)) throw new Error(`layer drawn twice: ${layer}/`);
    const to =
      targets === 'nothing'
        ? []
        : targets!
            .trim()
            .split(/\s+/)
            .map((name) => name.slice(0, -1));
    picture.set(layer!, new Set(to));
  }
  for (const [layer, to] of picture) {
    for (const target of to) {
      if (!picture.has(target)) throw new Error(`${layer}/ ─▶ ${target}/, which is not a layer`);
      if (target === layer) throw new Error(`${layer}/ ─▶ itself`);
    }
  }
  return picture;
}

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return typeScriptFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

// Static imports and re-exports (`from '…'`), side-effect imports, and `import('…')`, in code
// and in type positions alike (a type-only import is an arrow too).
const SPECIFIER = /(?:\bfrom\s*|^\s*import\s*|\bimport\s*\(\s*)(['"])([^'"\n]+)\1/gm;

/** Every import between two top folders under `root`: "from ─▶ to" with one file that makes it. */
function actualArrows(root: string, layers: Iterable<string>): Map<string, string> {
  const arrows = new Map<string, string>();
  for (const layer of layers) {
    for (const file of typeScriptFiles(join(root, layer))) {
      for (const [, , specifier] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
        if (!specifier!.startsWith('.')) continue; // a package or a node: module
        const target = relative(root, resolve(dirname(file), specifier!)).split(sep)[0]!;
        const arrow = `${layer} ─▶ ${target}`;
        if (target !== layer && !arrows.has(arrow)) arrows.set(arrow, relative(root, file));
      }
    }
  }
  return arrows;
}

/** What the picture and the code disagree on, one sentence each; empty when the picture is true. */
function disagreements(root: string, picture: Picture): string[] {
  const problems: string[] = [];
  const actual = actualArrows(root, picture.keys());
  for (const [arrow, file] of actual) {
    const [from, to] = arrow.split(' ─▶ ') as [string, string];
    if (!picture.get(from)!.has(to)) problems.push(`not in the picture: ${arrow}/ (${file})`);
  }
  for (const [from, targets] of picture) {
    for (const to of targets) {
      if (!actual.has(`${from} ─▶ ${to}`)) problems.push(`drawn, but no file imports it: ${from} ─▶ ${to}/`);
    }
  }
  const folders = readdirSync(root, { withFileTypes: true }).filter(
    (entry) => entry.isDirectory() && !entry.name.startsWith('.') && entry.name !== 'node_modules',
  );
  for (const { name } of folders) {
    const code = name !== 'dist' && typeScriptFiles(join(root, name)).length > 0;
    if (code && !picture.has(name) && !OUTSIDE_THE_PICTURE.has(name)) {
      problems.push(`${name}/ holds TypeScript but is not in the picture`);
    }
  }
  return problems;
}

const pictureOf = (root: string) => readPicture(readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8'));

describe('the layer picture in docs/ARCHITECTURE.md', () => {
  it('draws exactly the imports between the top folders', () => {
    expect(disagreements(REPO, pictureOf(REPO))).toEqual([]);
  });

  it('catches an import it does not draw, and an arrow no import makes', () => {
    // A small tree of its own: src/ imports the agent, which the picture forbids, and the
    // picture's bin/ ─▶ src/ has no import behind it.
    const root = mkdtempSync(join(tmpdir(), 'pairlink-layers-'));
    try {
      for (const dir of ['docs', 'src/core', 'agent', 'bin']) mkdirSync(join(root, dir), { recursive: true });
      writeFileSync(
        join(root, 'docs/ARCHITECTURE.md'),
        '# x\n\n```layers\nbin/    ─▶ agent/ src/\nagent/  ─▶ src/\nsrc/    ─▶ nothing\n```\n',
      );
      writeFileSync(join(root, 'bin/main.ts'), "import { run } from '../agent/run.js';\nrun();\n");
      writeFileSync(
        join(root, 'agent/run.ts'),
        "import type { T } from '../src/core/t.js';\nexport const run = (t?: T) => t;\n",
      );
      writeFileSync(
        join(root, 'src/core/t.ts'),
        "export type T = (typeof import('../../agent/run.js'))['run'];\n",
      );
      expect(disagreements(root, pictureOf(root))).toEqual([
        'not in the picture: src ─▶ agent/ (src/core/t.ts)',
        'drawn, but no file imports it: bin ─▶ src/',
      ]);
      mkdirSync(join(root, 'tools'));
      writeFileSync(join(root, 'tools/x.ts'), 'export {};\n');
      expect(disagreements(root, pictureOf(root))).toContain(
        'tools/ holds TypeScript but is not in the picture',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a malformed picture rather than checking less', () => {
    expect(() => readPicture('no block')).toThrow(/one ```layers block/);
    expect(() => readPicture('```layers\nsrc/ -> agent/\n```\n')).toThrow(/not a layer line/);
    expect(() => readPicture('```layers\nsrc/ ─▶ agent/\n```\n')).toThrow(/not a layer/);
    expect(() => readPicture('```layers\nsrc/ ─▶ nothing\nsrc/ ─▶ nothing\n```\n')).toThrow(/twice/);
  });
});
