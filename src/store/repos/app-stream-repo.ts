/**
 * Which customer apps hold a live event stream open, and on which service process (see
 * migration 012). A process writes a row when a stream opens, refreshes `seen_at` for all its
 * streams on a heartbeat and deletes the row when the stream closes; a row whose process died
 * stops being fresh within a few heartbeats. Times are the database's own clock.
 */
import type pg from 'pg';
import type { AppStreamRepo } from '../store.js';
import { isUuid, query } from './sql.js';

export function appStreamRepo(pool: pg.Pool): AppStreamRepo {
  return {
    async open(stream) {
      await query(pool, `INSERT INTO app_streams (id, device_id, customer_id, owner) VALUES ($1, $2, $3, $4)`, [stream.id, stream.deviceId, stream.customerId, stream.owner]);
    },
    async close(id) {
      await query(pool, 'DELETE FROM app_streams WHERE id = $1', [id]);
    },
    async touch(owner, forgetAfterSeconds) {
      const res = await query(pool, 'UPDATE app_streams SET seen_at = now() WHERE owner = $1', [owner]);
      // A device whose app holds its stream open is seen: its last_seen_at follows, at most once a
      // minute per device (the console's "last seen").
      await query(
        pool,
        `UPDATE devices SET last_seen_at = now()
         WHERE id IN (SELECT device_id FROM app_streams WHERE owner = $1)
           AND (last_seen_at IS NULL OR last_seen_at <= now() - interval '1 minute')`,
        [owner],
      );
      // Rows a dead process left behind go once they are well past any freshness window.
      await query(pool, 'DELETE FROM app_streams WHERE seen_at < now() - make_interval(secs => $1)', [forgetAfterSeconds]);
      return res.rowCount ?? 0;
    },
    async live(customerId, freshSeconds) {
      if (!isUuid(customerId)) return [];
      const res = await query<{ device_id: string; owner: string; seen_at: Date }>(
        pool,
        `SELECT device_id, owner, seen_at FROM app_streams
         WHERE customer_id = $1 AND seen_at >= now() - make_interval(secs => $2)
         ORDER BY seen_at DESC`,
        [customerId, freshSeconds],
      );
      return res.rows.map((r) => ({ deviceId: r.device_id, owner: r.owner, seenAt: r.seen_at }));
    },
  };
}
