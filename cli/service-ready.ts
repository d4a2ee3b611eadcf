import { setTimeout as sleep } from 'node:timers/promises';
import { PairlinkClient } from '../client/index.js';
import type { PairlinkError } from '../src/errors.js';
import { type Io, printJson } from './output.js';

/** How long `service ready` waits for the agent at most (systemd's own start timeout is 90 s). */
const READY_ATTEMPTS = 600;
const READY_INTERVAL_MS = 100;

/**
 * `pairlink service ready`: the agent unit's ExecStartPost. Waits until the agent (PAIRLINK_SOCKET,
 * or where the CLI looks) answers `agent.info`, so systemd reports the unit started, and starts the
 * units ordered after it, only once clients can use it. Bounded: 600 tries 100 ms apart.
 */
export async function waitUntilReady(io: Io, json: boolean): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const client = await PairlinkClient.connect();
      try {
        const info = await client.call('agent.info', {});
        if (json) printJson(io, { ready: true, did: info.did });
        else io.out(`pairlink agent ready (${info.did})`);
        return 0;
      } finally {
        client.close();
      }
    } catch (error) {
      const code = (error as PairlinkError).code;
      const starting = code === 'AGENT_NOT_FOUND' || code === 'AGENT_UNAVAILABLE';
      if (!starting || attempt >= READY_ATTEMPTS) throw error;
    }
    await sleep(READY_INTERVAL_MS);
  }
}
