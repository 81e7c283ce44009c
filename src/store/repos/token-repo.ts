/**
 * Pre-authentication tokens issued (SPEC core flow 1 step 3): single use, decided by one
 * conditional UPDATE so exactly one of any number of concurrent presenters wins. The statements
 * every customer call runs are named prepared statements (parsed once per connection).
 */
import type pg from 'pg';
import type { IssuedToken } from '../../domain/model.js';
import type { AdmissionContext, ConsumeResult, TokenRepo } from '../store.js';
import { requestColumns, toCallRequest, type CallRequestRow } from './call-request-repo.js';
import { isUuid, prepared, query } from './sql.js';

/** The device's and customer's columns, then the call request's (all NULL when it is missing). */
type AdmissionRow = {
  device_id: string | null;
  device_customer_id: string | null;
  public_key_jwk: Record<string, unknown> | null;
  revoked_at: Date | null;
  cust_id: string | null;
  customer_name: string | null;
  phone_e164: string | null;
} & { [K in keyof CallRequestRow]: CallRequestRow[K] | null };

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
      const won = await prepared(
        pool,
        'token_consume',
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

    async admissionContext(deviceId, customerId, callRequestId): Promise<AdmissionContext> {
      // One row whatever exists: each side is a LEFT JOIN that stays NULL when the id matches nothing.
      const res = await prepared<AdmissionRow>(
        pool,
        'token_admission_context',
        `SELECT d.id AS device_id, d.customer_id AS device_customer_id, d.public_key_jwk, d.revoked_at,
                c.id AS cust_id, c.name AS customer_name, c.phone_e164, ${requestColumns('r')}
           FROM (SELECT 1) AS one
           LEFT JOIN devices d ON d.id = $1::uuid
           LEFT JOIN customers c ON c.id = $2::uuid
           LEFT JOIN call_requests r ON r.id = $3::uuid`,
        [isUuid(deviceId) ? deviceId : null, isUuid(customerId) ? customerId : null, isUuid(callRequestId) ? callRequestId : null],
      );
      const r = res.rows[0]!;
      return {
        device:
          r.device_id && r.device_customer_id && r.public_key_jwk
            ? { id: r.device_id, customerId: r.device_customer_id, publicKeyJwk: r.public_key_jwk, revokedAt: r.revoked_at }
            : null,
        customer: r.cust_id && r.customer_name !== null ? { id: r.cust_id, name: r.customer_name, phoneE164: r.phone_e164 } : null,
        request: r.id ? toCallRequest(r as CallRequestRow) : null,
      };
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
