import { PairlinkClient } from '../client/index.js';

/** Connects to this user's agent (PAIRLINK_SOCKET, else the default path), runs `fn`, disconnects. */
export async function withAgent<T>(fn: (client: PairlinkClient) => Promise<T>): Promise<T> {
  const client = await PairlinkClient.connect();
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export { parseDuration } from '../src/duration.js';
