/**
 * Applies pending migrations. Everything runs in one transaction that first takes a
 * transaction-scoped advisory lock, so instances starting together queue up: the first applies
 * the migrations, the others then find them recorded in schema_migrations and do nothing.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { MIGRATIONS, type Migration } from './migrations/index.js';
import { LOCK_KEYS } from './repos/sql.js';

/** Returns the names of the migrations this call applied (empty when the schema was current). */
export async function migrate(
  pool: pg.Pool,
  logger?: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEYS.migrations]);
    // Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can collide.
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     integer PRIMARY KEY,
        name        text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
    const done = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(`${String(m.version).padStart(3, '0')}-${m.name}`);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
  if (applied.length > 0) logger?.info({ migrations: applied }, 'database migrations applied');
  return applied;
}
