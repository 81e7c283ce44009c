/** Single-use server challenges a device signs to prove possession of its key. */
import type pg from 'pg';
import type { Challenge } from '../../domain/model.js';
import type { ChallengeRepo } from '../store.js';
import { prepared, query } from './sql.js';

interface ChallengeRow {
  id: string;
  device_id: string;
  call_request_id: string | null;
  purpose: Challenge['purpose'];
  value: string;
  expires_at: Date;
  used_at: Date | null;
  pin_version: number | null;
}

const COLUMNS = 'id, device_id, call_request_id, purpose, value, expires_at, used_at, pin_version';

function toChallenge(r: ChallengeRow): Challenge {
  return {
    id: r.id,
    deviceId: r.device_id,
    callRequestId: r.call_request_id,
    purpose: r.purpose,
    value: r.value,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
    pinVersion: r.pin_version,
  };
}

export function challengeRepo(pool: pg.Pool): ChallengeRepo {
  return {
    async create(c) {
      const res = await prepared<ChallengeRow>(
        pool,
        'challenges_create',
        // A PIN change is checked against the PIN of when its challenge was issued.
        `INSERT INTO challenges (id, device_id, call_request_id, purpose, value, expires_at, pin_version)
         VALUES ($1, $2, $3, $4, $5, $6, (SELECT pin_version FROM devices WHERE id = $2)) RETURNING ${COLUMNS}`,
        [c.id, c.deviceId, c.callRequestId, c.purpose, c.value, c.expiresAt],
      );
      return toChallenge(res.rows[0]!);
    },
    async consume(id, deviceId, now) {
      // device_id is compared as text so a malformed id from outside matches nothing.
      const res = await prepared<ChallengeRow>(
        pool,
        'challenges_consume',
        `UPDATE challenges SET used_at = $3
         WHERE id = $1 AND device_id::text = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING ${COLUMNS}`,
        [id, deviceId.toLowerCase(), now],
      );
      return res.rows[0] ? toChallenge(res.rows[0]) : null;
    },
    async purgeExpired(now) {
      const res = await query(pool, 'DELETE FROM challenges WHERE expires_at <= $1', [now]);
      return res.rowCount ?? 0;
    },
  };
}
