import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { PairlinkError } from '../src/errors.js';
import { AuditTrail, auditSaves } from './audit-trail.js';
import type { SaveFailureLog } from './failed-saves.js';
import type { SecretStore } from './keystore/secret-store.js';
import type { RepeatedWarnings } from './repeated-warnings.js';
import type { AgentState } from './state/agent-state.js';
import { DurableState } from './state/durable-state.js';

/** What opening the agent's files needs from it. */
export interface AgentStoreDeps {
  readonly keystore: SecretStore;
  readonly stateFile: string;
  readonly name: string;
  readonly logger: Logger;
  readonly warnings: RepeatedWarnings;
  readonly logFailure: SaveFailureLog;
  readonly random: (length: number) => Uint8Array;
  /** Seconds, for a fresh state's creation time. */
  readonly now: () => number;
}

/**
 * Opens the agent's sealed state and its audit trail beside it, under the state key (made and
 * kept in the keystore on first start): the state first, whose log carries the audit lines the
 * trail may have to write back, then the trail, whose anchor the first save records. On a full
 * disk the agent starts all the same, owing that save (its tick retries it): the files hold what
 * they held, and it serves what it has.
 */
export async function openAgentStore(
  deps: AgentStoreDeps,
): Promise<{ store: DurableState; audit: AuditTrail }> {
  let stateKey = await deps.keystore.get('state-key');
  if (!stateKey) {
    stateKey = deps.random(32);
    await deps.keystore.set('state-key', stateKey);
  }
  let trail: AuditTrail | null = null;
  const fresh = (): AgentState => ({
    version: 1,
    name: deps.name,
    createdAt: deps.now(),
    peers: [],
    invites: [],
    accepts: [],
  });
  const store = await DurableState.load(
    deps.stateFile,
    stateKey,
    fresh,
    auditSaves(() => trail),
  );
  store.update((s) => ({ ...s, name: deps.name }));
  const audit = await AuditTrail.open(join(dirname(deps.stateFile), 'audit.log'), stateKey, {
    store,
    logger: deps.logger,
    warnings: deps.warnings,
    logFailure: deps.logFailure,
  });
  trail = audit;
  const anchor = audit.anchor();
  await store.persist().then(
    () => audit.committed(anchor),
    (error: unknown) => {
      if (!(error instanceof PairlinkError && error.code === 'DISK_FULL')) throw error;
      deps.logger.warn(
        { err: error.message },
        'started with the disk full: saving resumes once there is room',
      );
    },
  );
  return { store, audit };
}
