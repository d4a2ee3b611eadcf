/**
 * The agent's JSON-RPC method names, each with its one line of help: the list every other part of
 * the contract is keyed by (schemas.ts, protocol.ts, openrpc.ts). It imports nothing, so the
 * schemas and the method types can both depend on it without depending on each other.
 */

/** One line per method, for `agent.methods` and `pairlink rpc --help`. */
export const METHOD_DESCRIPTIONS = {
  'rpc.discover': 'This API as an OpenRPC 1.3 document: methods, params, results, errors, notifications.',
  'agent.info': 'Agent version, identity, relay and keystore status.',
  'agent.methods': 'This list.',
  'identity.get': 'This agent’s did, name, fingerprint and signed card.',
  'invite.create': 'Mint an invite (URL or short code, peer or device mode).',
  'invite.get': 'One invite with its sessions and SAS.',
  'invite.list': 'Pending invites (all: true includes finished ones).',
  'invite.cancel': 'Cancel an invite at once; in-flight acceptors are told.',
  'invite.confirmSas': 'Issuer side: confirm (match: true) or reject the SAS of one session.',
  'invite.accept': 'Accept an invite URL or code; waits up to waitSeconds, then answers pending.',
  'accept.confirmSas': 'Acceptor side: confirm or reject the SAS of a pending accept.',
  'accept.get':
    'One accept by id; waits up to waitSeconds (default 0) while it is pending and not waiting for this side’s SAS.',
  'history.list':
    'What happened (minted by whom, paired with whom, failed, cancelled, expired, unpaired), oldest first.',
  'history.verify':
    'Whether the audit log is as the agent wrote it: its hash chain checked whole, and where it breaks.',
  'peer.list': 'Pinned peers and devices.',
  'peer.get': 'One pinned peer.',
  'peer.remove': 'Unpin a peer, and tell it so with an unpair notice when it has an inbox.',
  'peer.ping': 'Ask a peer whether it is reachable: a ping notice, answered by its receipt.',
  'identity.rotate':
    'Rotate this identity onto its committed next key and tell every peer; says which peers must re-pair.',
  'device.list': 'This identity’s devices known to this agent (added with device invites).',
  'device.revoke':
    'Revoke a device: a rotation (reason deviceRevoked) that every peer applies; the remaining devices must be added again.',
  'events.subscribe': 'Receive invite.progress notifications on this connection.',
  'events.unsubscribe': 'Stop receiving notifications on this connection.',
} as const;

/** The name of one method of the agent's JSON-RPC API. */
export type RpcMethodName = keyof typeof METHOD_DESCRIPTIONS;
