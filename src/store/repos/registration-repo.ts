/**
 * Desk phone bindings (RFC 3261 §10 location service). Expired rows are ignored by every read and
 * removed by housekeeping; a refresh replaces the row for the same (extension, contact).
 */
import type pg from 'pg';
import type { Registration, RegistrationRepo } from '../store.js';
import { query } from './sql.js';

interface RegistrationRow {
  extension: string;
  contact: string;
  source: string;
  call_id: string;
  cseq: string; // bigint comes back as text
  user_agent: string | null;
  expires_at: Date;
  updated_at: Date;
  unreachable_since: Date | null;
  instance_id: string | null;
  reg_id: number | null;
}

function toRegistration(r: RegistrationRow): Registration {
  return {
    extension: r.extension,
    contact: r.contact,
    source: r.source,
    callId: r.call_id,
    cseq: Number(r.cseq),
    userAgent: r.user_agent,
    expiresAt: r.expires_at,
    updatedAt: r.updated_at,
    unreachableSince: r.unreachable_since,
    instanceId: r.instance_id,
    regId: r.reg_id,
  };
}

export function registrationRepo(pool: pg.Pool): RegistrationRepo {
  return {
    async upsert(r, now) {
      // An out-of-order retransmission (same Call-ID, lower CSeq) must not undo a newer refresh.
      await query(
        pool,
        `INSERT INTO registrations (extension, contact, source, call_id, cseq, user_agent, expires_at, updated_at, instance_id, reg_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (extension, contact) DO UPDATE SET
           source = EXCLUDED.source, call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq,
           user_agent = EXCLUDED.user_agent, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at,
           unreachable_since = NULL, instance_id = EXCLUDED.instance_id, reg_id = EXCLUDED.reg_id
         WHERE NOT (registrations.call_id = EXCLUDED.call_id AND registrations.cseq > EXCLUDED.cseq)`,
        [r.extension, r.contact, r.source, r.callId, r.cseq, r.userAgent, r.expiresAt, now, r.instanceId ?? null, r.regId ?? null],
      );
    },
    async remove(extension, contact) {
      const res = await query(pool, 'DELETE FROM registrations WHERE extension = $1 AND contact = $2', [extension, contact]);
      return (res.rowCount ?? 0) > 0;
    },
    async removeAll(extension) {
      const res = await query(pool, 'DELETE FROM registrations WHERE extension = $1', [extension]);
      return res.rowCount ?? 0;
    },
    async list(extension, now) {
      const res = await query<RegistrationRow>(
        pool,
        `SELECT * FROM registrations WHERE extension = $1 AND expires_at > $2 ORDER BY updated_at DESC, contact`,
        [extension, now],
      );
      return res.rows.map(toRegistration);
    },
    async registeredExtensions(now) {
      const res = await query<{ extension: string }>(
        pool,
        'SELECT DISTINCT extension FROM registrations WHERE expires_at > $1 ORDER BY extension',
        [now],
      );
      return res.rows.map((r) => r.extension);
    },
    async markUnreachable(extension, contact, now) {
      const res = await query(
        pool,
        `UPDATE registrations SET unreachable_since = $3
         WHERE extension = $1 AND contact = $2 AND expires_at > $3 AND unreachable_since IS NULL`,
        [extension, contact, now],
      );
      return (res.rowCount ?? 0) > 0;
    },
    async phoneStates(now) {
      const res = await query<{ extension: string; live: boolean }>(
        pool,
        `SELECT extension, bool_or(unreachable_since IS NULL) AS live
         FROM registrations WHERE expires_at > $1 GROUP BY extension`,
        [now],
      );
      return new Map(res.rows.map((r) => [r.extension, r.live ? 'registered' : 'unreachable'] as const));
    },
    async purgeExpired(now) {
      const res = await query(pool, 'DELETE FROM registrations WHERE expires_at <= $1', [now]);
      return res.rowCount ?? 0;
    },
  };
}
