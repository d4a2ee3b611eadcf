import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// matrix-bot-sdk `require`s @matrix-org/matrix-sdk-crypto-nodejs as it loads, and that package
// fails to load without the native library its install script downloads from GitHub (which the
// machines pairlink is built on cannot reach; the bot never encrypts anyway: docs/BOTS.md). In a
// clone, npm `overrides` install vendor/matrix-sdk-crypto-unavailable in its place. npm applies
// overrides only in the project it installs into, so an installed pairlink (`npm install -g`, or
// a dependency of someone's project) gets the real package, and the bot died with
// MODULE_NOT_FOUND. So the stand-in, shipped in the package, takes the real package's place in
// Node's CommonJS module cache (`require.cache`, which Node documents as writable) before the
// SDK loads: one behaviour wherever npm put things.

const require = createRequire(import.meta.url);
const STAND_IN = join(
  dirname(require.resolve('pairlink/package.json')),
  'vendor',
  'matrix-sdk-crypto-unavailable',
  'index.js',
);

/** Makes matrix-bot-sdk load pairlink's E2EE stand-in as its crypto package; call before importing the SDK. */
export function useCryptoStandIn(): void {
  const sdkRequire = createRequire(require.resolve('matrix-bot-sdk'));
  const crypto = sdkRequire.resolve('@matrix-org/matrix-sdk-crypto-nodejs');
  if (crypto === STAND_IN) return; // the clone: npm's override already put it there
  require(STAND_IN);
  require.cache[crypto] = require.cache[STAND_IN];
}
