/**
 * JSON with byte strings: a Uint8Array is written as {"$b": "<base64url>"} and read back as one.
 * The handshake states are plain data with byte fields, so this is all they need to persist.
 */
export function encodeStateJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Uint8Array ? { $b: Buffer.from(v).toString('base64url') } : v,
  );
}

export function decodeStateJson<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$b' && typeof (v as { $b: unknown }).$b === 'string') {
        return new Uint8Array(Buffer.from((v as { $b: string }).$b, 'base64url'));
      }
    }
    return v;
  }) as T;
}
