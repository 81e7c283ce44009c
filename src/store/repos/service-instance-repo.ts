/**
 * The service processes sharing this database, each with a heartbeat (see migration 005). Times
 * are the database's own clock, so instances with drifting clocks still agree on who is silent.
 */
import type pg from 'pg';
import type { ServiceInstanceRepo } from '../store.js';
import { query } from './sql.js';

interface InstanceRow {
  id: string;
  name: string;
  started_at: Date;
  heartbeat_at: Date;
  media_address: string | null;
}

const toInstance = (r: InstanceRow) => ({ id: r.id, name: r.name, startedAt: r.started_at, heartbeatAt: r.heartbeat_at, mediaAddress: r.media_address });

export function serviceInstanceRepo(pool: pg.Pool): ServiceInstanceRepo {
  return {
    async beat(id, name, mediaAddress = null) {
      const res = await query<InstanceRow>(
        pool,
        `INSERT INTO service_instances (id, name, started_at, heartbeat_at, media_address) VALUES ($1, $2, now(), now(), $3)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), media_address = COALESCE(EXCLUDED.media_address, service_instances.media_address)
         RETURNING *`,
        [id, name, mediaAddress],
      );
      return toInstance(res.rows[0]!);
    },
    async dead(self, silentSeconds, restartedBefore) {
      const res = await query<InstanceRow>(
        pool,
        `SELECT * FROM service_instances
         WHERE id <> $1
           AND (heartbeat_at < now() - make_interval(secs => $3) OR (name = $2 AND heartbeat_at < $4))
         ORDER BY heartbeat_at`,
        [self.id, self.name, silentSeconds, restartedBefore ?? new Date(0)],
      );
      return res.rows.map(toInstance);
    },
    async alive(silentSeconds) {
      const res = await query<InstanceRow>(pool, `SELECT * FROM service_instances WHERE heartbeat_at >= now() - make_interval(secs => $1)`, [silentSeconds]);
      return res.rows.map(toInstance);
    },
    async isAlive(id, silentSeconds) {
      const res = await query(pool, `SELECT 1 FROM service_instances WHERE id = $1 AND heartbeat_at >= now() - make_interval(secs => $2)`, [id, silentSeconds]);
      return res.rowCount === 1;
    },
    async remove(id) {
      await query(pool, 'DELETE FROM service_instances WHERE id = $1', [id]);
    },
  };
}
