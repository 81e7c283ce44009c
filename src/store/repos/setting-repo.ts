/** Small named values the service keeps for itself (generated VAPID keys, one-time flags). */
import type pg from 'pg';
import type { SettingRepo } from '../store.js';
import { query } from './sql.js';

export function settingRepo(pool: pg.Pool): SettingRepo {
  return {
    async get(key) {
      const res = await query<{ value: string }>(pool, 'SELECT value FROM settings WHERE key = $1', [key]);
      return res.rows[0]?.value ?? null;
    },
    async setIfAbsent(key, value) {
      // Two instances generating a value at once: the first insert wins and both read it back.
      const ins = await query<{ value: string }>(
        pool,
        'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value',
        [key, value],
      );
      if (ins.rows[0]) return ins.rows[0].value;
      const res = await query<{ value: string }>(pool, 'SELECT value FROM settings WHERE key = $1', [key]);
      return res.rows[0]!.value;
    },
  };
}
