/**
 * Attempt limits counted in PostgreSQL, so every instance sees the same count: rate-limiter-
 * flexible's RateLimiterPostgres on the `attempt_limits` table (migration 006). Each attempt is
 * one atomic upsert made *before* the check it guards, so parallel attempts cannot all pass.
 */
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { AttemptLimit, AttemptLimitRepo, AttemptReservation, CheckReservation } from '../store.js';
import { prepared, query } from './sql.js';

const TABLE = 'attempt_limits';
/** How long a check holds its place if its process dies before answering. */
const CHECK_LEASE_MS = 30_000;

/** The failures of the row's window (none once it has ended). */
const liveFailures = (t: string, now: string) => `(CASE WHEN COALESCE(${t}.expire, 0) > ${now} THEN ${t}.points ELSE 0 END)`;
/** Its checks in flight (none once their lease has ended: their process died). */
const liveChecks = (t: string, now: string) => `(CASE WHEN COALESCE(${t}.in_flight_until, 0) > ${now} THEN ${t}.in_flight ELSE 0 END)`;

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

      // Checks in flight, on the limiter's rows (same key, same window): `points` counts the
      // failures only. Each statement works on the real time, as the limiter does.
      async beginCheck(key): Promise<CheckReservation> {
        const k = limiter.getKey(key);
        const now = Date.now();
        // One upsert: the row lock serialises parallel reservations and each re-reads the row.
        // The WHERE of ON CONFLICT refuses without writing, so a refusal takes no place.
        const res = await query(
          pool,
          `INSERT INTO ${TABLE} AS a (key, points, expire, in_flight, in_flight_until) VALUES ($1, 0, $2::bigint + $3, 1, $2::bigint + $5)
           ON CONFLICT (key) DO UPDATE SET
             points = ${liveFailures('a', '$2')},
             refused = a.refused AND COALESCE(a.expire, 0) > $2,
             expire = CASE WHEN COALESCE(a.expire, 0) > $2 THEN a.expire ELSE $2::bigint + $3 END,
             in_flight = ${liveChecks('a', '$2')} + 1,
             in_flight_until = $2::bigint + $5
           WHERE ${liveFailures('a', '$2')} + ${liveChecks('a', '$2')} < $4
           RETURNING a.key`,
          [k, now, windowSeconds * 1000, attempts, CHECK_LEASE_MS],
        );
        if (res.rowCount === 1) return { allowed: true };
        // Refused: what fills the limit? The first refusal for failures marks the window.
        const full = await query<{ points: number; expire: string; in_flight: number; in_flight_until: string | null; was_refused: boolean }>(
          pool,
          `WITH old AS (SELECT key, refused FROM ${TABLE} WHERE key = $1 FOR UPDATE)
           UPDATE ${TABLE} a SET refused = a.refused OR (${liveFailures('a', '$2')} >= $3)
             FROM old WHERE a.key = old.key
           RETURNING ${liveFailures('a', '$2')} AS points, a.expire, ${liveChecks('a', '$2')} AS in_flight, a.in_flight_until, old.refused AS was_refused`,
          [k, now, attempts],
        );
        const row = full.rows[0];
        if (row && row.points >= attempts) {
          return {
            allowed: false,
            full: 'failures',
            retryAfterSeconds: Math.max(1, Math.ceil((Number(row.expire) - now) / 1000)),
            firstRefusal: !row.was_refused,
          };
        }
        return {
          allowed: false,
          full: 'checks',
          failures: row?.points ?? 0,
          inFlight: row?.in_flight ?? 0,
          lastBegun: Number(row?.in_flight_until ?? CHECK_LEASE_MS) - CHECK_LEASE_MS,
        };
      },

      async endCheck(key, outcome) {
        const now = Date.now();
        // An upsert: the row may have been purged meanwhile (its window and lease over).
        await query(
          pool,
          `INSERT INTO ${TABLE} AS a (key, points, expire) VALUES ($1, CASE WHEN $4 = 'failed' THEN 1 ELSE 0 END, $2::bigint + $3)
           ON CONFLICT (key) DO UPDATE SET
             points = CASE WHEN $4 = 'clear' THEN 0
                           WHEN $4 = 'failed' THEN ${liveFailures('a', '$2')} + 1
                           ELSE ${liveFailures('a', '$2')} END,
             refused = a.refused AND COALESCE(a.expire, 0) > $2 AND $4 <> 'clear',
             expire = CASE WHEN COALESCE(a.expire, 0) > $2 THEN a.expire ELSE $2::bigint + $3 END,
             in_flight = GREATEST(${liveChecks('a', '$2')} - 1, 0)`,
          [limiter.getKey(key), now, windowSeconds * 1000, outcome],
        );
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
      const res = await query(pool, `DELETE FROM ${TABLE} WHERE expire <= $1 AND COALESCE(in_flight_until, 0) <= $1`, [Date.now()]);
      return res.rowCount ?? 0;
    },
  };
}
