import { resolveAgentPaths } from '../agent/paths.js';
import { AgentClient } from './rpc-client.js';

/** Connects to this user's agent (PAIRLINK_SOCKET, else the default path), runs `fn`, disconnects. */
export async function withAgent<T>(fn: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = await AgentClient.connect(resolveAgentPaths(process.env).socket);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Parses a duration like `90`, `90s`, `10m`, `24h`, `7d` into seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`${what} must be a number of seconds or like 10m, 24h, 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
