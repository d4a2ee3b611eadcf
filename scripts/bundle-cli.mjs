// Bundles the CLI into dist/bin/pairlink.cjs (run by `npm run build` after tsc). CommonJS because
// Node 20 starts a CommonJS file without the ESM loader (~9 ms here) and a bundle resolves no
// package through its exports map at start (~3 ms each). Packages stay external (node_modules)
// but for env-paths,
// and esbuild keeps every dynamically imported module's code in a lazy wrapper, so a command's
// dependencies (discord.js for `bot`, the agent for `up`) load only when that command runs.
import { readFileSync, rmSync, symlinkSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
// env-paths is ESM-only and tiny: bundled, since CommonJS cannot require it on every Node 20.
const inline = new Set(['env-paths']);
const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })
  .filter((name) => !inline.has(name))
  .flatMap((name) => [name, `${name}/*`]);

// The commands that run for long or load much (a relay, an agent, a bot, the service files, the
// demo, invite inspection) stay out of the bundle: it imports their ESM build (dist/cli/commands)
// when one runs, so quick commands never compile their code.
const HEAVY = /^\.\/commands\/(up|relay|bot|service|agent|inspect|demo)\.js$/;
const heavyCommandsOutside = {
  name: 'heavy-commands-outside',
  setup(b) {
    b.onResolve({ filter: HEAVY }, (args) =>
      args.importer.endsWith('cli/main.ts')
        ? { path: `../cli/${args.path.slice(2)}`, external: true }
        : undefined,
    );
  },
};

await build({
  entryPoints: ['bin/pairlink.ts'],
  outfile: 'dist/bin/pairlink.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [heavyCommandsOutside],
});

// `pairlink` beside the bundle, so that a clone puts the command on PATH with
// `export PATH="$PWD/dist/bin:$PATH"` (README, "Try it"). A symlink, not a copy: Node takes the
// module format from the real file's extension (.cjs), and an extensionless copy in this
// "type": "module" package would load as ESM.
rmSync('dist/bin/pairlink', { force: true });
if (process.platform !== 'win32') symlinkSync('pairlink.cjs', 'dist/bin/pairlink');
