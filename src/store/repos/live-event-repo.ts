/**
 * The cluster's live event log (migration 016): appended by whichever instance made a change,
 * read by every instance from the last id it saw. The append NOTIFYs in the same statement, so
 * the wake-up is sent on commit and never before the row is visible.
 */
import type pg from 'pg';
import type { LiveEventRepo, LoggedLiveEvent } from '../store.js';
import { clampLimit, query } from './sql.js';

/** The channel an append NOTIFYs (the payload is the new id). */
export const LIVE_EVENTS_CHANNEL = 'knock_live_events';

interface Row {
  id: string;
  at: Date;
  origin: string;
  request_id: string | null;
  request_version: number | null;
  event: unknown;
}

export function liveEventRepo(pool: pg.Pool): LiveEventRepo {
  return {
    async append(e) {
      const res = await query<{ id: string }>(
        pool,
        `WITH e AS (
           INSERT INTO live_events (origin, request_id, request_version, event) VALUES ($1, $2, $3, $4) RETURNING id
         )
         SELECT id, pg_notify('${LIVE_EVENTS_CHANNEL}', id::text) FROM e`,
        [e.origin, e.requestId ?? null, e.requestVersion ?? null, JSON.stringify(e.event)],
      );
      return Number(res.rows[0]!.id);
    },
    async after(id, limit) {
      const res = await query<Row>(
        pool,
        'SELECT id, at, origin, request_id, request_version, event FROM live_events WHERE id > $1 ORDER BY id LIMIT $2',
        [id, clampLimit(limit, 1000)],
      );
      return res.rows.map(
        (r): LoggedLiveEvent => ({ id: Number(r.id), at: r.at, origin: r.origin, requestId: r.request_id, requestVersion: r.request_version, event: r.event }),
      );
    },
    async lastId() {
      const res = await query<{ id: string | null }>(pool, 'SELECT max(id) AS id FROM live_events');
      return Number(res.rows[0]?.id ?? 0);
    },
    async purgeBefore(at) {
      const res = await query(pool, 'DELETE FROM live_events WHERE at < $1', [at]);
      return res.rowCount ?? 0;
    },
  };
}
