/**
 * Attempt limits counted in PostgreSQL, so every instance sees the same count: rate-limiter-
 * flexible's RateLimiterPostgres on the `attempt_limits` table (migration 006). Each attempt is
 * one atomic upsert made *before* the check it guards, so parallel attempts cannot all pass.
 */
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { AttemptLimit, AttemptLimitRepo, AttemptReservation } from '../store.js';
import { prepared, query } from './sql.js';

const TABLE = 'attempt_limits';

export function attemptLimitRepo(pool: pg.Pool): AttemptLimitRepo {
  // The limiter's statements go through the store's helpers: named where the database allows it
  // (not on the embedded one), and database errors become AppErrors ('unavailable').
  const client = {
    query: (q: { name?: string; text: string; values?: unknown[] }) =>
      q.name ? prepared(pool, q.name, q.text, q.values ?? []) : query(pool, q.text, q.values ?? []),
  };
  const limits = new Map<string, AttemptLimit>();

  function create(name: string, attempts: number, windowSeconds: number): AttemptLimit {
    const limiter = new RateLimiterPostgres({
      storeClient: client,
      storeType: 'client',
      tableName: TABLE,
      tableCreated: true,
      // Expired rows are purged by housekeeping (purgeExpired), not by a timer per limiter.
      clearExpiredByTimeout: false,
      keyPrefix: name,
      points: attempts,
      duration: windowSeconds,
    });
    return {
      async reserve(key): Promise<AttemptReservation> {
        try {
          const res = await limiter.consume(key);
          return { allowed: true, remaining: res.remainingPoints };
        } catch (e) {
          if (!(e instanceof RateLimiterRes)) throw e;
          return {
            allowed: false,
            retryAfterSeconds: Math.max(1, Math.ceil(e.msBeforeNext / 1000)),
            // Exactly one refused attempt per window sees this count: it is the one to audit.
            firstRefusal: e.consumedPoints === attempts + 1,
          };
        }
      },
      async giveBack(key) {
        await limiter.reward(key, 1);
      },
      async reset(key) {
        await limiter.delete(key);
      },
    };
  }

  return {
    limit(name, attempts, windowSeconds) {
      const id = `${name}/${attempts}/${windowSeconds}`;
      let limit = limits.get(id);
      if (!limit) limits.set(id, (limit = create(name, attempts, windowSeconds)));
      return limit;
    },
    async purgeExpired() {
      // The limiter stamps expiry with the real time (Date.now), so that is what decides here too.
      const res = await query(pool, `DELETE FROM ${TABLE} WHERE expire <= $1`, [Date.now()]);
      return res.rowCount ?? 0;
    },
  };
}
