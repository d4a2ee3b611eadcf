import type { Logger } from 'pino';
import type { RelaySettings } from '../src/invite/relay-policy.js';
import type { InviteDefaults } from './invite-minting.js';
import type { SecretStore } from './keystore/secret-store.js';
import type { LostMailboxRetry } from './lost-mailboxes.js';
import type { AgentClock, RelayTransportFactory } from './relay-transport.js';

/** What an Agent is started with: its files, keystore, relay and logger, and what tests may change. */
export interface AgentOptions {
  readonly stateFile: string;
  readonly keystore: SecretStore;
  readonly relayUrl: string;
  readonly name: string;
  readonly logger: Logger;
  /**
   * Opens the connection to one relay: the home relay at start, and each relay an invite or
   * accept runs on, on demand (the agent's root passes RelayConnection; tests pass fakes).
   */
  readonly transport: RelayTransportFactory;
  /** Relays open at once, the home relay included; by default DEFAULT_RELAY_LIMIT (32). */
  readonly relayLimit?: number | undefined;
  /** Seconds and a repeating timer; by default the system clock. */
  readonly clock?: AgentClock;
  /** Defaults for invite.create when a caller leaves them out (config `invites`). */
  readonly inviteDefaults?: InviteDefaults | undefined;
  /** Which relays an invite may name (config `agent`); by default DEFAULT_RELAY_SETTINGS. */
  readonly relaySettings?: RelaySettings | undefined;
  /** How a mailbox the relay lost is re-opened; by default DEFAULT_LOST_MAILBOX_RETRY. */
  readonly lostMailboxRetry?: LostMailboxRetry | undefined;
}
