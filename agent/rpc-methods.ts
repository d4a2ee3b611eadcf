import { fromHex } from '../src/encoding/hex.js';
import { PairlinkError } from '../src/errors.js';
import { readVerifiedCard } from '../src/identity/card.js';
import { fingerprint } from '../src/identity/identity.js';
import { type OpenRpcDocument, openRpcDocument } from '../src/rpc/openrpc.js';
import {
  type InviteAcceptResult,
  type InviteSummary,
  METHOD_DESCRIPTIONS,
  PEER_MOVED_NOTIFICATION,
  PEER_REMOVED_NOTIFICATION,
  PEER_ROTATED_NOTIFICATION,
  type PeerInfo,
  PROGRESS_NOTIFICATION,
  PROTOCOL_VERSION,
} from '../src/rpc/protocol.js';
import { MAX_LISTED_CONNECTIONS } from '../src/rpc/schemas.js';
import { type Agent, isFinished } from './agent.js';
import { DEFAULT_PING_WAIT_SECONDS } from './peer-lifecycle.js';
import type { ConnectionFigures, NotificationSource, RpcHandlers, RpcService } from './rpc-dispatch.js';
import type { AcceptRecord, InviteRecord, PeerRecord } from './state/agent-state.js';

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const AGENT_VERSION = '0.1.0';

/** `home`: the agent's relay, where records from before the relay pool were minted. */
function inviteSummary(record: InviteRecord, home: string): InviteSummary {
  const issuer = record.issuer;
  return {
    id: record.id,
    format: record.format,
    mode: record.mode,
    ...(record.url ? { url: record.url } : {}),
    ...(record.customUrl ? { customUrl: record.customUrl } : {}),
    ...(record.code ? { code: record.code } : {}),
    relayUrl: record.relayUrl ?? home,
    expiresAt: iso(issuer.expiresAt),
    usesLeft: issuer.usesLeft,
    requireSas: issuer.requireSas,
    status: issuer.status,
    ...(issuer.failure ? { error: issuer.failure } : {}),
    ...(record.label ? { label: record.label } : {}),
    createdAt: record.createdAt,
    ...(record.format === 'code' ? { failedAttempts: issuer.failedAttempts } : {}),
    sessions: Object.entries(issuer.sessions).map(([id, session]) => {
      const sas = record.sas[id];
      const card = session.acceptorCard;
      return {
        sessionId: id,
        status: session.phase,
        ...(sas ? { sas: { digits: sas.digits, emoji: sas.emoji } } : {}),
        ...(card ? { peer: peerRef(card) } : {}),
        ...(session.failure ? { error: session.failure } : {}),
      };
    }),
  };
}

/** did and name of a card this agent verified when it arrived (not re-verified here). */
function peerRef(cardBytes: Uint8Array): { did: string; name: string } {
  const card = readVerifiedCard(cardBytes);
  return { did: card.did, name: card.name };
}

function acceptResult(record: AcceptRecord): InviteAcceptResult {
  const state = record.acceptor;
  if (state.phase === 'failed') {
    throw new PairlinkError(
      state.failure ?? 'PROTOCOL_ERROR',
      `pairing failed: ${state.failure ?? 'PROTOCOL_ERROR'}`,
    );
  }
  return {
    status: state.phase === 'paired' ? 'paired' : 'pending',
    acceptId: record.id,
    ...(state.issuerCard ? { peer: peerRef(state.issuerCard) } : {}),
    ...(record.sas
      ? {
          sas: { digits: record.sas.digits, emoji: record.sas.emoji },
          confirmSas: state.phase === 'awaitingSas',
        }
      : {}),
  };
}

function peerInfo(peer: PeerRecord): PeerInfo {
  return {
    did: peer.did,
    name: peer.name,
    fingerprint: fingerprint(peer.card.subarray(1, 33)),
    pairedAt: peer.pairedAt,
    relayUrl: peer.relayUrl,
    relation: peer.relation,
    confirmed: peer.confirmed !== false,
    inbox: peer.inbox !== undefined,
    ...(peer.lastContact ? { lastContact: peer.lastContact } : {}),
  };
}

/**
 * The agent's JSON-RPC methods: thin translations between the contract and the Agent.
 * `connections` reports what the socket server holds for each connection, the largest first.
 */
export function rpcHandlers(agent: Agent, connections: () => ConnectionFigures[]): RpcHandlers {
  let discovered: OpenRpcDocument | undefined;
  return {
    'rpc.discover': async () => {
      discovered ??= openRpcDocument(AGENT_VERSION);
      return discovered;
    },
    'agent.info': async (_params, connection) => {
      const figures = connections();
      return {
        version: AGENT_VERSION,
        protocolVersion: PROTOCOL_VERSION,
        did: agent.did,
        name: agent.name,
        relayUrl: agent.relayUrl,
        keystore: agent.keystoreKind,
        startedAt: agent.startedAt.toISOString(),
        relayConnected: agent.relayConnected,
        relayWatches: agent.relayWatches.watches,
        relaySockets: agent.relayWatches.sockets,
        relays: agent.relayUses,
        pendingInvites: agent.snapshot.invites.filter((i) => i.issuer.status === 'pending').length,
        peers: agent.snapshot.peers.length,
        connection: connection.id,
        connectionCount: figures.length,
        connections: figures.slice(0, MAX_LISTED_CONNECTIONS),
      };
    },
    'agent.methods': async () =>
      Object.entries(METHOD_DESCRIPTIONS).map(([name, description]) => ({ name, description })),
    'identity.get': async () => ({
      did: agent.did,
      name: agent.name,
      fingerprint: agent.fingerprint,
      relayUrl: agent.relayUrl,
      card: Buffer.from(agent.cardBytes).toString('base64url'),
    }),
    'invite.create': async (params) => {
      const record = await agent.createInvite(params);
      const {
        status: _status,
        sessions: _sessions,
        createdAt: _createdAt,
        label: _label,
        failedAttempts: _failed,
        error: _error,
        ...created
      } = inviteSummary(record, agent.relayUrl);
      return created;
    },
    'invite.get': async ({ id }) => inviteSummary(agent.findInvite(id), agent.relayUrl),
    'invite.list': async ({ all }) =>
      (all ? agent.allInvites : agent.snapshot.invites).map((r) => inviteSummary(r, agent.relayUrl)),
    'invite.cancel': async ({ id }) => {
      const record = agent.findInvite(id);
      if (record.issuer.status !== 'pending') {
        throw new PairlinkError(
          record.issuer.status === 'cancelled'
            ? 'INVITE_CANCELLED'
            : record.issuer.status === 'expired'
              ? 'INVITE_EXPIRED'
              : 'INVITE_USED',
          `invite ${id} is already ${record.issuer.status}`,
        );
      }
      return inviteSummary(await agent.issuerEvent(id, { type: 'cancelRequested' }), agent.relayUrl);
    },
    'invite.confirmSas': async ({ id, sessionId, match }) =>
      inviteSummary(
        await agent.issuerEvent(id, {
          type: match ? 'sasConfirmed' : 'sasRejected',
          sessionId: fromHex(sessionId),
        }),
        agent.relayUrl,
      ),
    'invite.accept': async ({ invite, relay, requireSas, waitSeconds }) => {
      const started = await agent.startAccept(invite, requireSas ?? false, relay);
      const record = isFinished(started) ? started : await agent.waitForAccept(started.id, waitSeconds ?? 30);
      return acceptResult(record);
    },
    'accept.confirmSas': async ({ acceptId, match }) => {
      const stepped = await agent.acceptorEvent(acceptId, { type: match ? 'sasConfirmed' : 'sasRejected' });
      return acceptResult(match ? await agent.waitForAccept(acceptId, 30) : stepped);
    },
    'accept.get': async ({ acceptId, waitSeconds }) => {
      const record = agent.findAccept(acceptId);
      return acceptResult(
        isFinished(record) || !waitSeconds ? record : await agent.waitForAccept(acceptId, waitSeconds),
      );
    },
    'history.list': async ({ since, limit }) => (await agent.history(since, limit ?? 1000)).entries,
    'history.verify': async () => (await agent.history(undefined, 1)).integrity,
    'peer.list': async () => agent.snapshot.peers.map(peerInfo),
    'peer.get': async ({ did }) => peerInfo(agent.peerCard(did).peer),
    'peer.remove': ({ did, localOnly }) => agent.removePeer(did, localOnly ?? false),
    'peer.ping': ({ did, waitSeconds }) => agent.pingPeer(did, waitSeconds ?? DEFAULT_PING_WAIT_SECONDS),
    'identity.rotate': async ({ reason }) => agent.rotation.rotate(reason ?? 'scheduled'),
    'device.list': async () =>
      agent.rotation.devices().map((d) => ({
        name: d.name,
        did: d.did,
        pairedAt: d.pairedAt,
        ...(d.session ? { session: d.session } : {}),
      })),
    'device.revoke': async ({ device }) => agent.rotation.revokeDevice(device),
    'events.subscribe': async (_params, connection) => {
      connection.subscribed = true;
      return { subscribed: true };
    },
    'events.unsubscribe': async (_params, connection) => {
      connection.subscribed = false;
      return { subscribed: false };
    },
  };
}

/** The agent's events, as the notifications a subscriber receives. */
function agentNotifications(agent: Agent): NotificationSource {
  return (broadcast) => {
    const offProgress = agent.onProgress((progress) => broadcast(PROGRESS_NOTIFICATION, progress));
    const offRemoved = agent.onPeerRemoved((removed) => broadcast(PEER_REMOVED_NOTIFICATION, removed));
    const offRotated = agent.events.onPeerRotated((rotated) => broadcast(PEER_ROTATED_NOTIFICATION, rotated));
    const offMoved = agent.events.onPeerMoved((moved) => broadcast(PEER_MOVED_NOTIFICATION, moved));
    return () => {
      offProgress();
      offRemoved();
      offRotated();
      offMoved();
    };
  };
}

/** What the agent's socket server serves: these methods and the agent's notifications. */
export function agentRpc(agent: Agent): RpcService {
  return {
    methods: (connections) => rpcHandlers(agent, connections),
    notifications: agentNotifications(agent),
  };
}
