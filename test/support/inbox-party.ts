import { toHex } from '../../src/encoding/hex.js';
import type { Party } from '../../src/handshake/in-memory-host.js';
import { Identity } from '../../src/identity/identity.js';
import type { InboxExtension } from '../../src/notice/inbox.js';
import { nextKeyCommitment } from '../../src/notice/rotation.js';
import { AcceptorDriver, codeSetup, IssuerDriver, makeParty, urlSetup } from './pairing-harness.js';
import { seededRandom } from './seeded-random.js';

/** A party that speaks notices: its inbox extension for a session, the same every time it is asked. */
export type InboxParty = Party & { readonly extensionFor: (sessionId: Uint8Array) => InboxExtension };

/**
 * `party` with an inbox on `relayUrl` and a next key committed to (PROTOCOL.md §11.1, §11.6): the
 * write capability is drawn per session, as an agent draws one per peer, and derived from the
 * session id so that a step re-run after a crash hands out the same one.
 */
export function withInbox(party: Party, relayUrl = 'https://inbox.example'): InboxParty {
  const mailboxId = seededRandom(`inbox:${party.name}`)(16);
  const next = Identity.generate(seededRandom(`next-key:${party.name}`)).identity;
  const commitment = nextKeyCommitment(next.signing.publicKey);
  const extensionFor = (sessionId: Uint8Array): InboxExtension => ({
    nextKeyCommitment: commitment,
    inbox: {
      relayUrl,
      mailboxId,
      writeCapability: seededRandom(`inbox-cap:${party.name}:${toHex(sessionId)}`)(16),
    },
  });
  return { ...party, inboxFor: extensionFor, extensionFor };
}

/**
 * Alice issues a URL or code invite, bob accepts it, on one in-memory relay; each side speaks
 * notices (has an inbox) or not, as `sides` says.
 */
export function inboxPairing(
  form: 'url' | 'code',
  sides: { issuer: boolean; acceptor: boolean },
  policy: Parameters<typeof urlSetup>[0] = {},
) {
  const { exchange, alice, issuer: minted, target } = form === 'url' ? urlSetup(policy) : codeSetup(policy);
  const aliceInbox = withInbox(alice);
  const bob = makeParty('bob', minted.exchange.now);
  const bobInbox = withInbox(bob);
  const issuer = new IssuerDriver(sides.issuer ? aliceInbox : alice, minted.state, exchange);
  const acceptor = new AcceptorDriver(sides.acceptor ? bobInbox : bob, target(), false, exchange);
  return {
    exchange,
    issuer,
    acceptor,
    alice,
    bob,
    aliceInbox,
    bobInbox,
    /** The issuer's one session. */
    session: () => Object.values(issuer.state.sessions)[0]!,
    sessionId: () => acceptor.state.sessionId,
  };
}
