import { PairlinkError } from '../../src/errors.js';
import { fingerprint } from '../../src/identity/identity.js';
import { looksLikeInviteUrl, parseInviteUrl } from '../../src/invite/invite-url.js';
import { checkRelayUrl } from '../../src/invite/relay-policy.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { loadConfigFile } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';
import { relaySettingsFrom } from '../relay-settings.js';

/**
 * Whether an agent set up like `pairlink agent` would be (--config, --relay, PAIRLINK_RELAY and
 * the relay settings' variables) would accept a link naming `relayUrl`: the relay-URL policy,
 * then today's rule that a link is accepted on the agent's own relay only.
 */
function relayCheck(
  relayUrl: string,
  values: Record<string, unknown>,
): { accepted: boolean; reason?: string } {
  const env = process.env;
  const config = loadConfigFile(values.config as string | undefined);
  const own = (values.relay as string | undefined) ?? env.PAIRLINK_RELAY ?? config.relay.url;
  const verdict = checkRelayUrl(relayUrl, own, relaySettingsFrom(config, env));
  if (!verdict.ok) return { accepted: false, reason: verdict.reason };
  if (relayUrl !== own)
    return { accepted: false, reason: `it names another relay than this agent's (${own})` };
  return { accepted: true };
}

/** `pairlink inspect <invite>`: everything that can be checked without the network. */
export const inspectCommand: Command = {
  summary:
    'Verify an invite URL or short code locally (signature, expiry, check character) and show what it says.',
  usage: 'pairlink inspect <invite-url-or-code> [--config FILE] [--relay URL] [--json]',
  options: { config: { type: 'string' }, relay: { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    if (positionals.length !== 1) throw new UsageError('inspect takes exactly one invite');
    const text = positionals[0]!.trim();
    const now = Math.floor(Date.now() / 1000);
    if (looksLikeInviteUrl(text)) {
      const invite = parseInviteUrl(text, now);
      // parseInviteUrl lets an acceptor's clock run a little ahead (the issuer's clock decides);
      // inspect answers the question its help asks, by this clock: has it expired?
      if (now >= invite.expiresAt)
        throw new PairlinkError(
          'INVITE_EXPIRED',
          `it expired at ${new Date(invite.expiresAt * 1000).toISOString()}`,
        );
      const summary = {
        form: 'url',
        issuer: { did: invite.issuerDid, fingerprint: fingerprint(invite.issuerKey) },
        relayUrl: invite.relayUrl,
        mode: invite.mode,
        requireSas: invite.requireSas,
        uses: invite.uses,
        expiresAt: new Date(invite.expiresAt * 1000).toISOString(),
        signature: 'valid',
        relayCheck: relayCheck(invite.relayUrl, values),
      };
      if (values.json) printJson(io, summary);
      else {
        io.out(`Valid ${invite.mode} invite from ${summary.issuer.did}`);
        io.out(`  fingerprint  ${summary.issuer.fingerprint}`);
        io.out(`  relay        ${invite.relayUrl}`);
        io.out(`  expires      ${summary.expiresAt}`);
        io.out(`  uses         ${invite.uses}${invite.requireSas ? ', SAS check required' : ''}`);
        const check = summary.relayCheck;
        io.out(`  this agent   ${check.accepted ? 'would accept it' : `would refuse it: ${check.reason}`}`);
      }
      return EXIT.ok;
    }
    const code = parseShortCode(text);
    if (values.json) printJson(io, { form: 'code', nameplate: code.nameplate, checkCharacter: 'valid' });
    else
      io.out(
        `Well-formed code (nameplate ${code.nameplate}); only the issuer's agent can tell whether it is right.`,
      );
    return EXIT.ok;
  },
};
