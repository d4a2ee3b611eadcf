import { PairlinkError } from '../../src/errors.js';
import { fingerprint } from '../../src/identity/identity.js';
import { parseInviteText } from '../../src/invite/invite-text.js';
import { checkRelayUrl } from '../../src/invite/relay-policy.js';
import type { Command } from '../command.js';
import { loadConfigFile } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import { printJson, UsageError } from '../output.js';
import { relaySettingsFrom } from '../relay-settings.js';

/**
 * Whether an agent set up like `pairlink agent` would be (--config, --agent-relay or
 * PAIRLINK_RELAY, and the relay settings' variables) would contact the relay `relayUrl`: the
 * relay-URL policy. A link is accepted on the relay it names, whichever relay the agent's own is.
 */
function relayCheck(
  relayUrl: string,
  values: Record<string, unknown>,
): { accepted: boolean; reason?: string } {
  const env = process.env;
  const config = loadConfigFile(values.config as string | undefined);
  const own = (values['agent-relay'] as string | undefined) ?? env.PAIRLINK_RELAY ?? config.relay.url;
  const verdict = checkRelayUrl(relayUrl, own, relaySettingsFrom(config, env));
  return verdict.ok ? { accepted: true } : { accepted: false, reason: verdict.reason };
}

/** `pairlink inspect <invite>`: everything that can be checked without the network. */
export const inspectCommand: Command = {
  summary:
    'Verify an invite URL or short code locally (signature, expiry, check character) and show what it says.',
  usage: [
    'pairlink inspect <invite-url-or-code> [--relay URL] [--config FILE] [--agent-relay URL] [--json]',
    '',
    '  --relay <url>         for a code: the relay its issuer minted it on, checked as `accept --relay` would',
    "  --agent-relay <url>   the agent's own relay, when not the config's or PAIRLINK_RELAY",
  ].join('\n'),
  options: { config: { type: 'string' }, relay: { type: 'string' }, 'agent-relay': { type: 'string' } },
  allowPositionals: true,
  async run({ values, positionals, io }) {
    if (positionals.length !== 1) throw new UsageError('inspect takes exactly one invite');
    const now = Math.floor(Date.now() / 1000);
    const parsed = parseInviteText(positionals[0]!, now);
    if (parsed.form === 'url') {
      if (values.relay !== undefined)
        throw new UsageError('--relay is for a code: a link names its relay itself');
      const invite = parsed.invite;
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
    const code = parsed.code;
    const relay = values.relay as string | undefined;
    const check = relay === undefined ? undefined : relayCheck(relay, values);
    if (values.json)
      printJson(io, {
        form: 'code',
        nameplate: code.nameplate,
        checkCharacter: 'valid',
        ...(relay === undefined ? {} : { relayUrl: relay, relayCheck: check }),
      });
    else {
      io.out(
        `Well-formed code (nameplate ${code.nameplate}); only the issuer's agent can tell whether it is right.`,
      );
      if (relay !== undefined && check) {
        io.out(`  relay        ${relay}`);
        io.out(`  this agent   ${check.accepted ? 'would contact it' : `would refuse it: ${check.reason}`}`);
      }
    }
    return EXIT.ok;
  },
};
