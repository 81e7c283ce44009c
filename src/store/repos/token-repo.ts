/**
 * Pre-authentication tokens issued (SPEC core flow 1 step 3): single use, decided by one
 * conditional UPDATE so exactly one of any number of concurrent presenters wins.
 */
import type pg from 'pg';
import type { IssuedToken } from '../../domain/model.js';
import type { ConsumeResult, TokenRepo } from '../store.js';
import { query } from './sql.js';

interface TokenRow {
  jti: string;
  call_request_id: string;
  customer_id: string;
  device_id: string;
  expires_at: Date;
  consumed_at: Date | null;
  dialog_id: string | null;
}

function toToken(r: TokenRow): IssuedToken {
  return {
    jti: r.jti,
    callRequestId: r.call_request_id,
    customerId: r.customer_id,
    deviceId: r.device_id,
    expiresAt: r.expires_at,
    consumedAt: r.consumed_at,
    dialogId: r.dialog_id,
  };
}

export function tokenRepo(pool: pg.Pool): TokenRepo {
  return {
    async record(t) {
      await query(
        pool,
        `INSERT INTO issued_tokens (jti, call_request_id, customer_id, device_id, expires_at) VALUES ($1, $2, $3, $4, $5)`,
        [t.jti, t.callRequestId, t.customerId, t.deviceId, t.expiresAt],
      );
    },

    async consume(jti, dialogId, now): Promise<ConsumeResult> {
      const won = await query(
        pool,
        `UPDATE issued_tokens SET consumed_at = $3, dialog_id = $2
         WHERE jti = $1 AND consumed_at IS NULL AND expires_at > $3`,
        [jti, dialogId, now],
      );
      if (won.rowCount === 1) return 'consumed';
      // The loser reads committed state: a concurrent winner has committed by now (our UPDATE
      // waited on its row lock), so consumed_at tells replay from expiry.
      const res = await query<{ consumed_at: Date | null }>(pool, 'SELECT consumed_at FROM issued_tokens WHERE jti = $1', [
        jti,
      ]);
      const row = res.rows[0];
      if (!row) return 'unknown';
      return row.consumed_at ? 'replayed' : 'expired';
    },

    async get(jti) {
      const res = await query<TokenRow>(
        pool,
        'SELECT jti, call_request_id, customer_id, device_id, expires_at, consumed_at, dialog_id FROM issued_tokens WHERE jti = $1',
        [jti],
      );
      return res.rows[0] ? toToken(res.rows[0]) : null;
    },

    async purgeExpired(now) {
      const res = await query(pool, 'DELETE FROM issued_tokens WHERE expires_at <= $1', [now]);
      return res.rowCount ?? 0;
    },
  };
}
