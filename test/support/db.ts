/**
 * Each test suite gets its own fresh database on the real PostgreSQL server named by
 * TEST_DATABASE_URL (CI always sets it). Without it the suites use the embedded PostgreSQL the
 * service itself falls back to, so a newcomer's `npm test` still runs against PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';

let embedded: EmbeddedPostgres | null = null;

async function serverUrl(): Promise<string> {
  const configured = process.env.TEST_DATABASE_URL;
  if (configured) return configured;
  if (!embedded) {
    embedded = await startEmbeddedPostgres({ dataDir: null, host: '127.0.0.1', port: 0 });
  }
  return embedded.url;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database; the caller's store applies the migrations. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = await serverUrl();
  if (embedded && base === embedded.url) {
    // PGlite serves one database over one connection at a time; suites share it in turn.
    return { url: base, drop: async () => {} };
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
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function stopEmbeddedForTests(): Promise<void> {
  if (embedded) await embedded.stop();
  embedded = null;
}
