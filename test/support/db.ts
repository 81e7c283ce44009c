/**
 * Each test suite gets its own fresh database on the real PostgreSQL server named by
 * TEST_DATABASE_URL (CI always sets it). Without it each suite gets its own in-memory embedded
 * PostgreSQL (the one the service itself falls back to), so a newcomer's `npm test` still runs
 * against PostgreSQL and suites never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';

const running = new Set<EmbeddedPostgres>();

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database; the caller's store applies the migrations. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) {
    // PGlite serves a single database, so a fresh one is a fresh embedded instance.
    const embedded = await startEmbeddedPostgres({ dataDir: null, host: '127.0.0.1', port: 0 });
    running.add(embedded);
    return {
      url: embedded.url,
      async drop() {
        running.delete(embedded);
        await embedded.stop();
      },
    };
  }
  const name = `knock_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        // A pool that has just been ended has said goodbye, but the server may not have closed
        // those connections yet; FORCE would then send them a termination error, which a
        // client's owner (a pool without an error listener) no longer expects. Let them go first.
        for (let waited = 0; waited < 2000; waited += 20) {
          const { rows } = await c.query('SELECT 1 FROM pg_stat_activity WHERE datname = $1 LIMIT 1', [name]);
          if (rows.length === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Stops embedded databases a suite forgot to drop. */
export async function stopEmbeddedForTests(): Promise<void> {
  const left = [...running];
  running.clear();
  await Promise.all(left.map((e) => e.stop()));
}
