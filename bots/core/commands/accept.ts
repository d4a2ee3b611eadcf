import { PairlinkError } from '../../../src/errors.js';
import { MAX_RELAY_URL_BYTES } from '../../../src/identity/card.js';
import { MAX_INVITE_TEXT_LENGTH } from '../../../src/invite/invite-url.js';
import type { InviteAcceptResult } from '../../../src/rpc/protocol.js';
import { followAccept } from '../agent-link.js';
import { acceptLine, errorLine } from '../render.js';
import type { Answer, CommandContext } from '../run-command.js';

/** An accept argument: one invite link or code, trimmed, bounded. */
export function acceptText(text: string | undefined): string {
  const invite = (text ?? '').trim();
  if (!invite) throw new PairlinkError('INVALID_PARAMS', 'give the invite link or code to accept');
  if (invite.length > MAX_INVITE_TEXT_LENGTH)
    throw new PairlinkError('INVALID_PARAMS', 'that is too long to be an invite');
  return invite;
}

/**
 * An accept's relay option (for a code: the relay its issuer minted it on), trimmed, bounded, an
 * http(s) URL; undefined when not given. Whether the agent may contact it is the agent's call
 * (RELAY_REFUSED), by its operator's relay policy.
 */
export function acceptRelay(text: string | undefined): string | undefined {
  const relay = (text ?? '').trim();
  if (!relay) return undefined;
  if (relay.length > MAX_RELAY_URL_BYTES)
    throw new PairlinkError('INVALID_PARAMS', `a relay URL is at most ${MAX_RELAY_URL_BYTES} characters`);
  if (!/^https?:\/\//i.test(relay) || !URL.canParse(relay))
    throw new PairlinkError('INVALID_PARAMS', 'the relay is a URL such as https://relay.example.org');
  return relay;
}

/**
 * Accepts an invite with this bot's agent. In a chat that can show a passing status the agent is
 * asked to answer at once (when the invite passed its local checks: form, signature, expiry,
 * relay), so "Pairing…" is only said when it is true; elsewhere it is given 8 s to pair. A
 * pending accept is followed, and the member told how it ended.
 */
export async function acceptInvite<W extends Record<string, string>>(
  context: CommandContext<W>,
  text: string | undefined,
  relayText: string | undefined,
): Promise<Answer> {
  const { agent, surface } = context;
  const invite = acceptText(text);
  const relay = acceptRelay(relayText);
  const onRelay = relay ? { relay } : {};
  let result: InviteAcceptResult;
  if (surface.interim) {
    result = await agent.call('invite.accept', { invite, waitSeconds: 0, ...onRelay });
    if (result.status !== 'paired') {
      await surface.interim('Pairing… waiting for the issuer’s agent.');
      result = await agent.call('accept.get', { acceptId: result.acceptId, waitSeconds: 8 });
    }
  } else result = await agent.call('invite.accept', { invite, waitSeconds: 8, ...onRelay });
  context.note(result.acceptId);
  const acceptId = result.acceptId;
  return {
    lines: [acceptLine(result)],
    outcome: result.status,
    ...(result.status === 'pending' ? { after: () => tellEnd(context, acceptId) } : {}),
  };
}

/** Follows a pending accept (surface.followMs at most) and tells the member how it ended. */
async function tellEnd<W extends Record<string, string>>(
  { agent, surface, log }: CommandContext<W>,
  acceptId: string,
): Promise<void> {
  const end = await followAccept(agent, acceptId, surface.followMs);
  if (end === null) return;
  const line = end instanceof Error ? `The pairing did not complete. ${errorLine(end)}` : acceptLine(end);
  log.info(
    {
      chat: surface.creator.chat,
      accept: acceptId,
      outcome: end instanceof Error ? 'failed' : end.status,
    },
    'accept ended',
  );
  await surface.tellLater([line]);
}
