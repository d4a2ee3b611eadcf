import type { RpcMethods } from '../../client/index.js';
import { withAgent } from '../agent-connection.js';
import type { Command } from '../command.js';
import type { Io } from '../output.js';
import { printJson, UsageError } from '../output.js';

type Outcome = RpcMethods['identity.rotate']['result'];
type PeerRef = { readonly did: string; readonly name: string };

const names = (peers: readonly PeerRef[]) => peers.map((p) => `${p.name} (${p.did})`).join(', ');

/** What a rotation says to a person: the new did, who follows, who must re-pair or be re-added. */
function tell(io: Io, outcome: Outcome): void {
  io.out(`Rotated: this identity is now ${outcome.did} (was ${outcome.previousDid}).`);
  if (outcome.notified.length > 0)
    io.out(
      `Told ${outcome.notified.length} peer(s); each re-pins the new key when the notice reaches it (one that never received this identity's commitment refuses it and must pair again).`,
    );
  if (outcome.mustRePair.length > 0)
    io.out(
      `Cannot follow (no inbox; they still trust the old key): pair again with ${names(outcome.mustRePair)}.`,
    );
  if (outcome.reAddDevices.length > 0)
    io.out(
      `These devices hold only the old key: add each again with a device invite: ${names(outcome.reAddDevices)}.`,
    );
}

export const rotateCommand: Command = {
  summary: [
    'Rotate this identity onto its committed next key and tell every peer (docs/PROTOCOL.md §11.6).',
    'Says the new did, and which peers cannot follow (paired without an inbox: they must re-pair).',
    '--compromised tells peers the old key leaked. A device (added by a device invite) cannot rotate.',
  ].join('\n'),
  usage: 'pairlink rotate [--compromised] [--json]',
  options: { compromised: { type: 'boolean' } },
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const outcome = await client.call('identity.rotate', {
        reason: values.compromised ? 'compromised' : 'scheduled',
      });
      if (values.json) printJson(io, outcome);
      else tell(io, outcome);
      return 0;
    }),
};

export const devicesCommand: Command = {
  summary: "This identity's devices known to this agent (the ones its device invites added).",
  usage: 'pairlink devices [--json]',
  options: {},
  allowPositionals: false,
  run: ({ values, io }) =>
    withAgent(async (client) => {
      const devices = await client.call('device.list', {});
      if (values.json) printJson(io, devices);
      else if (devices.length === 0) io.out('No devices added from this agent.');
      else
        for (const d of devices)
          io.out(`${d.name}  added ${d.pairedAt}${d.session ? `  session ${d.session}` : ''}`);
      return 0;
    }),
};

export const revokeDeviceCommand: Command = {
  summary: [
    'Revoke a device: rotate this identity (reason deviceRevoked) so that every peer refuses the key',
    'the device holds. Says which remaining devices must be added again with a device invite.',
  ].join('\n'),
  usage: 'pairlink revoke-device <name-or-session> [--json]',
  options: {},
  allowPositionals: true,
  run: ({ values, positionals, io }) => {
    if (positionals.length !== 1)
      throw new UsageError('revoke-device takes one device name or session (see pairlink devices)');
    return withAgent(async (client) => {
      const outcome = await client.call('device.revoke', { device: positionals[0]! });
      if (values.json) printJson(io, outcome);
      else {
        io.out(`Revoked ${outcome.revoked.name}.`);
        tell(io, outcome);
      }
      return 0;
    });
  },
};
