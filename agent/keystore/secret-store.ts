/** Where the agent keeps secrets: the OS keychain, or an encrypted file. */
export interface SecretStore {
  readonly kind: 'keychain' | 'file';
  get(name: SecretName): Promise<Uint8Array | null>;
  set(name: SecretName, value: Uint8Array): Promise<void>;
  delete(name: SecretName): Promise<void>;
}

/**
 * The agent's secrets: its identity, the identity it will rotate to (pre-rotation, PROTOCOL.md
 * §11.6: kept apart from the current one), and the key that encrypts its state file.
 */
export type SecretName =
  | 'identity'
  | 'next-identity'
  | 'state-key'
  /** The identity rotated away from, kept for the notice TTL (agent/identity-rotation.ts). */
  | 'previous-identity'
  /** An unfinished rotation: its redo entry (agent/identity-rotation.ts). */
  | 'rotation'
  /** A device's copy of the identity's next-key commitment (it holds no next key; empty: none). */
  | 'next-commitment';
