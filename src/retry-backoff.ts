/**
 * How long to wait before the next try against a relay: exponential from `baseMs`, capped at
 * `ceilingMs`, with "equal jitter" (a random point in the upper half), so that a relay that
 * fails or lies at once cannot drive a retry loop at CPU speed, and many agents that lost the
 * same relay do not come back in step.
 */
export interface BackoffSchedule {
  readonly baseMs: number;
  readonly ceilingMs: number;
}

/** The delay before try `attempt` (0 for the first retry); `random01` is uniform in [0, 1). */
export function backoffDelayMs(attempt: number, schedule: BackoffSchedule, random01: number): number {
  const cap = Math.min(schedule.ceilingMs, schedule.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(cap * (0.5 + random01 / 2));
}
