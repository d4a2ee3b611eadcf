import { PairlinkError } from '../../src/errors.js';
import { fingerprint } from '../../src/identity/identity.js';
import { looksLikeInviteUrl, parseInviteUrl } from '../../src/invite/invite-url.js';
import { parseShortCode } from '../../src/invite/short-code.js';
import { EXIT } from '../exit-codes.js';
import type { Command } from '../main.js';
import { printJson, UsageError } from '../output.js';

/** `pairlink inspect <invite>`: everything that can be checked without the network. */
export const inspectCommand: Command = {
  summary:
    'Verify an invite URL or short code locally (signature, expiry, check character) and show what it says.',
  usage: 'pairlink inspect <invite-url-or-code> [--json]',
  options: {},
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
      };
      if (values.json) printJson(io, summary);
      else {
        io.out(`Valid ${invite.mode} invite from ${summary.issuer.did}`);
        io.out(`  fingerprint  ${summary.issuer.fingerprint}`);
        io.out(`  relay        ${invite.relayUrl}`);
        io.out(`  expires      ${summary.expiresAt}`);
        io.out(`  uses         ${invite.uses}${invite.requireSas ? ', SAS check required' : ''}`);
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
