import type { PairlinkConfig } from '../src/config/schema.js';
import type { RelaySettings } from '../src/invite/relay-policy.js';
import { UsageError } from './output.js';

/** A comma-separated list from the environment, or undefined when the variable is unset. */
function listFrom(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/**
 * Which relays an invite may name: the config's `agent` settings, each overridden by its
 * environment variable (PAIRLINK_ALLOW_RELAYS and PAIRLINK_DENY_RELAYS, comma-separated;
 * PAIRLINK_ALLOW_INSECURE_RELAYS=1|0).
 */
export function relaySettingsFrom(config: PairlinkConfig, env: NodeJS.ProcessEnv): RelaySettings {
  const insecure = env.PAIRLINK_ALLOW_INSECURE_RELAYS;
  if (insecure !== undefined && insecure !== '1' && insecure !== '0')
    throw new UsageError('PAIRLINK_ALLOW_INSECURE_RELAYS must be 1 or 0');
  return {
    allowRelays: listFrom(env.PAIRLINK_ALLOW_RELAYS) ?? config.agent.allowRelays,
    denyRelays: listFrom(env.PAIRLINK_DENY_RELAYS) ?? config.agent.denyRelays,
    allowInsecureRelays: insecure === undefined ? config.agent.allowInsecureRelays : insecure === '1',
  };
}
