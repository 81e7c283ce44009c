/** One-time enrollment codes (stored as hashes) that bind a new device to a customer. */
import type pg from 'pg';
import type { EnrollmentCodeRepo } from '../store.js';
import { query } from './sql.js';

export function enrollmentCodeRepo(pool: pg.Pool): EnrollmentCodeRepo {
  return {
    async create(customerId, codeHash, expiresAt) {
      await query(pool, 'INSERT INTO enrollment_codes (code_hash, customer_id, expires_at) VALUES ($1, $2, $3)', [
        codeHash,
        customerId,
        expiresAt,
      ]);
    },
    async consume(codeHash, now) {
      // Single statement: of two devices racing with the same code, one gets the customer.
      const res = await query<{ customer_id: string }>(
        pool,
        `UPDATE enrollment_codes SET used_at = $2
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING customer_id`,
        [codeHash, now],
      );
      return res.rows[0]?.customer_id ?? null;
    },
  };
}
