/**
 * Counts failed digest authentications per source address in a sliding minute. Once a source
 * reaches the limit it is refused (403) without checking anything, which bounds password
 * guessing against desk phone credentials. Per instance: each instance behind one
 * drachtio-server counts what it sees.
 */
export interface AuthFailureLimiter {
  /** True when the source has used up its failures for the current minute. */
  blocked(source: string): boolean;
  recordFailure(source: string): void;
}

const WINDOW_MS = 60_000;
const MAX_SOURCES = 100_000;

export function createAuthFailureLimiter(limitPerMinute: number, clock: () => Date): AuthFailureLimiter {
  const failures = new Map<string, number[]>();
  const recent = (source: string, now: number) => (failures.get(source) ?? []).filter((t) => now - t < WINDOW_MS);
  return {
    blocked(source) {
      const now = clock().getTime();
      const list = recent(source, now);
      if (list.length === 0) failures.delete(source);
      else failures.set(source, list);
      return list.length >= limitPerMinute;
    },
    recordFailure(source) {
      const now = clock().getTime();
      if (failures.size >= MAX_SOURCES) {
        // Bounded memory under a spray of sources: drop those with nothing recent.
        for (const [k, v] of failures) if (!v.some((t) => now - t < WINDOW_MS)) failures.delete(k);
      }
      failures.set(source, [...recent(source, now), now]);
    },
  };
}
