import type { Logger } from 'pino';
import { Agent, type InviteDefaults } from '../agent/agent.js';
import { guardIdentity } from '../agent/identity-guard.js';
import { type KeystoreChoice, openKeystore } from '../agent/keystore/open-keystore.js';
import { relayKey } from '../agent/relay-pool.js';
import { agentRpc } from '../agent/rpc-methods.js';
import { RpcSocketServer } from '../agent/rpc-server.js';
import { warmHandshake } from '../agent/warm-up.js';
import type { AgentPaths } from '../io/agent-paths.js';
import { asDiskFull } from '../io/disk-full.js';
import { type HomeLock, lockHome } from '../io/home-lock.js';
import { checkedRelayLookup } from '../io/relay-lookup.js';
import { ensurePrivateDir } from '../io/secure-files.js';
import { claimSocketPath } from '../io/socket-path.js';
import { installSodiumNative } from '../io/sodium-native.js';
import { installSodiumRistretto } from '../io/sodium-ristretto.js';
import { relayConnector } from '../relay/client/relay-connection.js';
import type { RelaySettings } from '../src/invite/relay-policy.js';

/** A running agent with its socket server. */
export interface AgentRuntime {
  readonly agent: Agent;
  close(): Promise<void>;
}

interface RuntimeOptions {
  paths: AgentPaths;
  keystore: KeystoreChoice;
  passphraseFile: string | null;
  relayUrl: string;
  name: string;
  inviteDefaults?: InviteDefaults;
  relaySettings?: RelaySettings;
  /** Start with a new identity when the home holds an earlier one's state (identity-guard.ts). */
  newIdentity?: boolean;
  /** CAs for https/wss relays (cli/relay-ca.ts); Node's defaults when absent. */
  relayCa?: readonly string[] | undefined;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/**
 * Starts an agent the one way both `pairlink agent` and `pairlink up` do: claim the socket and
 * lock the home first (so a second agent never touches the first one's files), open the
 * keystore, load state, listen.
 */
export async function startAgentRuntime(options: RuntimeOptions): Promise<AgentRuntime> {
  await claimSocketPath(options.paths.socket, options.paths.socketMode);
  await ensurePrivateDir(options.paths.home);
  // A disk too full for the lock file, the keystore or the state is DISK_FULL (one sentence).
  const lock = await lockHome(options.paths.home).catch((error: unknown) => {
    throw asDiskFull(error);
  });
  try {
    return await startLocked(options, lock);
  } catch (error) {
    await lock.release();
    throw asDiskFull(error);
  }
}

async function startLocked(options: RuntimeOptions, lock: HomeLock): Promise<AgentRuntime> {
  const { paths, logger } = options;
  // Code pairings' ristretto255 through libsodium (WebAssembly), loaded while the keystore opens;
  // Ed25519 through libsodium (sodium-native), before the identity's key is imported.
  const ristretto = installSodiumRistretto();
  if (!installSodiumNative())
    logger.warn('sodium-native did not load; Ed25519 runs on OpenSSL alone (slower)');
  const { store, note } = await openKeystore({
    choice: options.keystore,
    home: paths.home,
    keystoreFile: paths.keystoreFile,
    env: options.env,
    passphraseFile: options.passphraseFile,
  });
  if (note) logger.warn(note);
  const replaced = await guardIdentity({
    keystore: store,
    stateFile: paths.stateFile,
    newIdentity: options.newIdentity ?? false,
    now: new Date(),
  });
  if (replaced)
    logger.warn({ replaced }, 'starting with a new identity; the earlier one’s state was moved aside');
  const backend = await ristretto;
  if (backend !== 'libsodium')
    logger.warn({ backend }, 'libsodium did not load; CPace runs on noble (slower)');
  const agent = await Agent.start({
    stateFile: paths.stateFile,
    keystore: store,
    relayUrl: options.relayUrl,
    // One connection per relay in use; every relay but the operator's own is named by an
    // invite, so its name is resolved and checked before each connection (DNS rebinding).
    transport: relayConnector(
      (url) => (url === relayKey(options.relayUrl) ? undefined : checkedRelayLookup(options.relayUrl)),
      options.relayCa ? { ca: options.relayCa } : {},
    ),
    name: options.name,
    logger,
    inviteDefaults: options.inviteDefaults,
    relaySettings: options.relaySettings,
  });
  let server: RpcSocketServer;
  try {
    server = await RpcSocketServer.listen(agentRpc(agent), paths.socket, logger, paths.socketMode);
  } catch (error) {
    await agent.stop();
    throw error;
  }
  logger.info(
    {
      did: agent.did,
      socket: paths.socket,
      relay: options.relayUrl,
      keystore: store.kind,
      ristretto: backend,
    },
    'agent ready',
  );
  let closing = false;
  const warming = warmHandshake(() => closing).catch((error: Error) =>
    logger.warn({ err: error.message }, 'handshake warm-up failed (the first pairing may be slower)'),
  );
  return {
    agent,
    async close() {
      closing = true;
      await warming;
      logger.info('agent shutting down');
      await server.close();
      try {
        // Rejects when the last changes could not be saved (a full disk): the agent still stops.
        await agent.stop();
      } finally {
        await lock.release();
      }
      logger.info('agent stopped');
    },
  };
}
