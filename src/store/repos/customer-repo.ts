/** Customers as the contact center knows them (name, phone, time zone, CRM reference). */
import type pg from 'pg';
import type { Customer } from '../../domain/model.js';
import type { CustomerRepo } from '../store.js';
import { isUuid, likeContains, query } from './sql.js';

interface CustomerRow {
  id: string;
  name: string;
  phone_e164: string | null;
  time_zone: string;
  external_ref: string | null;
  created_at: Date;
}

function toCustomer(r: CustomerRow): Customer {
  return {
    id: r.id,
    name: r.name,
    phoneE164: r.phone_e164,
    timeZone: r.time_zone,
    externalRef: r.external_ref,
    createdAt: r.created_at,
  };
}

export function customerRepo(pool: pg.Pool): CustomerRepo {
  return {
    async create(c) {
      const res = await query<CustomerRow>(
        pool,
        `INSERT INTO customers (name, phone_e164, time_zone, external_ref) VALUES ($1, $2, $3, $4) RETURNING *`,
        [c.name, c.phoneE164, c.timeZone, c.externalRef],
      );
      return toCustomer(res.rows[0]!);
    },
    async get(id) {
      if (!isUuid(id)) return null;
      const res = await query<CustomerRow>(pool, 'SELECT * FROM customers WHERE id = $1', [id]);
      return res.rows[0] ? toCustomer(res.rows[0]) : null;
    },
    async search(text, limit) {
      const pattern = likeContains(text.trim());
      const res = await query<CustomerRow>(
        pool,
        `SELECT * FROM customers
         WHERE name ILIKE $1 OR phone_e164 ILIKE $1 OR external_ref ILIKE $1
         ORDER BY name, id
         LIMIT $2`,
        [pattern, Math.max(1, Math.min(200, Math.floor(limit) || 20))],
      );
      return res.rows.map(toCustomer);
    },
    async getByPhone(phoneE164) {
      const res = await query<CustomerRow>(pool, 'SELECT * FROM customers WHERE phone_e164 = $1 ORDER BY created_at, id LIMIT 20', [phoneE164]);
      return res.rows.map(toCustomer);
    },
  };
}
