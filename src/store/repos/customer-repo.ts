/** Customers as the contact center knows them (name, phone, time zone, CRM reference). */
import type pg from 'pg';
import type { Customer, Device } from '../../domain/model.js';
import type { CustomerRepo } from '../store.js';
import { deviceColumns, toDevice, type DeviceRow } from './device-repo.js';
import { isUuid, likeContains, prepared, query } from './sql.js';

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
    async getWithDevices(id) {
      if (!isUuid(id)) return null;
      // One row per device (or one with no device), the customer's columns repeated: a knock
      // reads both, and this is one round trip instead of two.
      const res = await prepared<DeviceRow & { c_name: string; c_phone_e164: string | null; c_time_zone: string; c_external_ref: string | null; c_created_at: Date; c_id: string }>(
        pool,
        'customers_get_with_devices',
        `SELECT c.id AS c_id, c.name AS c_name, c.phone_e164 AS c_phone_e164, c.time_zone AS c_time_zone,
                c.external_ref AS c_external_ref, c.created_at AS c_created_at, ${deviceColumns('d')}
         FROM customers c LEFT JOIN devices d ON d.customer_id = c.id AND d.revoked_at IS NULL
         WHERE c.id = $1
         ORDER BY d.created_at, d.id`,
        [id],
      );
      const first = res.rows[0];
      if (!first) return null;
      const customer = toCustomer({
        id: first.c_id,
        name: first.c_name,
        phone_e164: first.c_phone_e164,
        time_zone: first.c_time_zone,
        external_ref: first.c_external_ref,
        created_at: first.c_created_at,
      });
      const devices: Device[] = res.rows.filter((r) => r.id !== null).map(toDevice);
      return { customer, devices };
    },
    async get(id) {
      if (!isUuid(id)) return null;
      const res = await prepared<CustomerRow>(
        pool,
        'customers_get',
        'SELECT id, name, phone_e164, time_zone, external_ref, created_at FROM customers WHERE id = $1',
        [id],
      );
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
