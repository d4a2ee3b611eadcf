import { resolveAgentPaths } from '../agent/paths.js';
import { AgentClient } from '../client/agent-client.js';

/** Connects to this user's agent (PAIRLINK_SOCKET, else the default path), runs `fn`, disconnects. */
export async function withAgent<T>(fn: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = await AgentClient.connect(resolveAgentPaths(process.env).socket);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export { parseDuration } from '../src/duration.js';
