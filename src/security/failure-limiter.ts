/**
 * Counts failed authentications per key (a source address, a username) in a sliding minute.
 * Once a key reaches the limit it is refused without checking anything, which bounds password
 * guessing. Memory stays bounded under a spray of keys. Per instance: each instance counts what
 * it sees.
 */
export interface FailureLimiter {
  /** True when the key has used up its failures for the current minute. */
  blocked(key: string): boolean;
  recordFailure(key: string): void;
  /** Forgets the key's failures (after a success). */
  reset(key: string): void;
}

const WINDOW_MS = 60_000;
const MAX_KEYS = 100_000;

export function createFailureLimiter(limitPerMinute: number, clock: () => Date): FailureLimiter {
  const failures = new Map<string, number[]>();
  const recent = (key: string, now: number) => (failures.get(key) ?? []).filter((t) => now - t < WINDOW_MS);
  return {
    blocked(key) {
      const now = clock().getTime();
      const list = recent(key, now);
      if (list.length === 0) failures.delete(key);
      else failures.set(key, list);
      return list.length >= limitPerMinute;
    },
    recordFailure(key) {
      const now = clock().getTime();
      if (failures.size >= MAX_KEYS) {
        for (const [k, v] of failures) if (!v.some((t) => now - t < WINDOW_MS)) failures.delete(k);
      }
      failures.set(key, [...recent(key, now), now]);
    },
    reset(key) {
      failures.delete(key);
    },
  };
}
