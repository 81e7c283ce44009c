/** Authenticated sessions (SPEC core flow 2): one id re-authenticates transfers until revoked. */
import type pg from 'pg';
import type { AuthSession } from '../../domain/model.js';
import type { SessionRepo } from '../store.js';
import { query } from './sql.js';

interface SessionRow {
  id: string;
  call_request_id: string;
  customer_id: string;
  device_id: string;
  auth_method: AuthSession['authMethod'];
  authenticated_at: Date;
  created_at: Date;
  revoked_at: Date | null;
}

function toSession(r: SessionRow): AuthSession {
  return {
    id: r.id,
    callRequestId: r.call_request_id,
    customerId: r.customer_id,
    deviceId: r.device_id,
    authMethod: r.auth_method,
    authenticatedAt: r.authenticated_at,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

export function sessionRepo(pool: pg.Pool): SessionRepo {
  return {
    async create(s) {
      const res = await query<SessionRow>(
        pool,
        `INSERT INTO auth_sessions (id, call_request_id, customer_id, device_id, auth_method, authenticated_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [s.id, s.callRequestId, s.customerId, s.deviceId, s.authMethod, s.authenticatedAt],
      );
      return toSession(res.rows[0]!);
    },
    async get(id) {
      const res = await query<SessionRow>(pool, 'SELECT * FROM auth_sessions WHERE id = $1', [id]);
      return res.rows[0] ? toSession(res.rows[0]) : null;
    },
    async revoke(id, now) {
      const res = await query(pool, 'UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [
        id,
        now,
      ]);
      return res.rowCount === 1;
    },
    async revokeEnded(now) {
      // The session dies with its call: every record of it has ended (a transfer opens the next
      // record before it closes the previous one, so a session being transferred always has one open).
      const res = await query<{ id: string }>(
        pool,
        `UPDATE auth_sessions s SET revoked_at = $1
         WHERE s.revoked_at IS NULL
           AND EXISTS (SELECT 1 FROM call_records r WHERE r.session_id = s.id)
           AND NOT EXISTS (SELECT 1 FROM call_records r WHERE r.session_id = s.id AND r.ended_at IS NULL)
         RETURNING s.id`,
        [now],
      );
      return res.rows.map((r) => r.id);
    },
    async revokeStale(before, now) {
      const res = await query(
        pool,
        'UPDATE auth_sessions SET revoked_at = $2 WHERE revoked_at IS NULL AND created_at < $1',
        [before, now],
      );
      return res.rowCount ?? 0;
    },
  };
}
