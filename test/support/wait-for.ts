/**
 * How tests wait: on a condition, never on a fixed sleep. `waitFor` re-checks `probe` every
 * `everyMs` and resolves with its first truthy value. The deadline only guards against a hang
 * (it is generous on purpose, so a loaded machine never decides a test); when it passes, the
 * error names what was awaited.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  what: string,
  options: { deadlineMs?: number; everyMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.deadlineMs ?? 30_000);
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.everyMs ?? 20));
  }
}
