import { randomBytes } from 'node:crypto';
import { toHex } from '../../src/encoding/hex.js';
import {
  effectsOf,
  MemoryExchange,
  newParty,
  type Party,
  runUntilQuiet,
  setUpPairing,
} from '../../src/handshake/in-memory-host.js';
import { fingerprint } from '../../src/identity/identity.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson } from '../output.js';

const DEMO_RELAY = 'http://127.0.0.1:7457';

const secureRandom = (n: number) => new Uint8Array(randomBytes(n));

function outcome(issuer: Party, acceptor: Party) {
  const sas = effectsOf(acceptor, 'sasReady')[0]?.sas;
  return {
    issuerPinned: effectsOf(issuer, 'pin').map((p) => p.peer.did),
    acceptorPinned: effectsOf(acceptor, 'pin').map((p) => p.peer.did),
    sas: sas ? { digits: sas.digits, emoji: sas.emoji } : null,
    frames: effectsOf(issuer, 'send').length + effectsOf(acceptor, 'send').length,
  };
}

/**
 * `pairlink demo`: two fresh in-memory identities pair by URL, then by code, through the real
 * handshake machines, with every frame passed in memory (no relay, nothing written to disk).
 */
export const demoCommand: Command = {
  summary:
    'Pair two fresh in-memory agents by invite URL and by short code, showing each step. Writes nothing.',
  usage: 'pairlink demo [--json]',
  options: {},
  allowPositionals: false,
  async run({ values, io }) {
    const now = Math.floor(Date.now() / 1000);
    const alice = newParty('alice', DEMO_RELAY, now, secureRandom);
    const bob = newParty('bob', DEMO_RELAY, now, secureRandom);
    const exchange = new MemoryExchange(now);
    const url = setUpPairing('url', alice, bob, exchange, DEMO_RELAY);
    runUntilQuiet(url.issuer, [url.acceptor]);
    const byUrl = outcome(alice, bob);

    const carol = newParty('carol', DEMO_RELAY, now, secureRandom);
    const dave = newParty('dave', DEMO_RELAY, now, secureRandom);
    const code = setUpPairing('code', carol, dave, exchange, DEMO_RELAY);
    runUntilQuiet(code.issuer, [code.acceptor]);
    const byCode = outcome(carol, dave);

    const ok = url.acceptor.state.phase === 'paired' && code.acceptor.state.phase === 'paired';
    if (values.json) {
      printJson(io, {
        url: {
          invite: url.inviteText,
          customUrl: url.customUrl,
          issuer: alice.identity.did,
          acceptor: bob.identity.did,
          ...byUrl,
        },
        code: { code: code.inviteText, issuer: carol.identity.did, acceptor: dave.identity.did, ...byCode },
        paired: ok,
      });
      return ok ? EXIT.ok : EXIT.failed;
    }
    io.out('pairlink demo: two in-memory agents pair through the real handshake (no relay, nothing saved).');
    io.out('');
    io.out(`1. alice (${fingerprint(alice.identity.signing.publicKey)}) mints an invite URL:`);
    io.out(`   ${url.inviteText}`);
    io.out(
      `   bob verifies its signature locally, then runs hello → reply → confirm → welcome (${byUrl.frames} frames).`,
    );
    io.out(`   SAS both sides would show: ${byUrl.sas?.digits}  ${byUrl.sas?.emoji}`);
    io.out(`   alice pinned ${byUrl.issuerPinned.join(', ')}`);
    io.out(`   bob   pinned ${byUrl.acceptorPinned.join(', ')}`);
    io.out('');
    io.out(
      `2. carol mints a short code: ${code.inviteText}  (nameplate ${parseShortCode(code.inviteText).nameplate}; the rest never reaches a relay)`,
    );
    io.out(`   dave types it; CPace on ristretto255 turns it into a shared key (${byCode.frames} frames).`);
    io.out(`   SAS: ${byCode.sas?.digits}  ${byCode.sas?.emoji}`);
    io.out(`   carol pinned ${byCode.issuerPinned.join(', ')}`);
    io.out(`   dave  pinned ${byCode.acceptorPinned.join(', ')}`);
    io.out('');
    io.out(ok ? 'Both pairings completed.' : 'A pairing failed.');
    io.out(
      `(session ids ${toHex(url.acceptor.state.sessionId).slice(0, 8)}…, ${toHex(code.acceptor.state.sessionId).slice(0, 8)}…)`,
    );
    return ok ? EXIT.ok : EXIT.failed;
  },
};
