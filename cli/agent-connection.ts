import { PairlinkClient } from '../client/index.js';

/** Connects to the agent (found as pairlink/client finds it), runs `fn`, disconnects. */
export async function withAgent<T>(fn: (client: PairlinkClient) => Promise<T>): Promise<T> {
  const client = await PairlinkClient.connect();
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export { parseDuration } from '../src/duration.js';
