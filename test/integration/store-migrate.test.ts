import assert from 'node:assert/strict';
import pg from 'pg';
import { migrate } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { openStore } from '../../src/store/pg-store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeCustomer } from './store-fixtures.js';

async function appliedVersions(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const res = await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    return res.rows.map((r) => r.version);
  } finally {
    await c.end();
  }
}

describe('store migrations', () => {
  let db: TestDatabase;
  afterEach(async () => {
    await db?.drop();
  });

  it('applies every migration once and does nothing the second time', async () => {
    db = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const first = await migrate(pool);
      assert.deepEqual(first, MIGRATIONS.map((m) => `${String(m.version).padStart(3, '0')}-${m.name}`));
      const second = await migrate(pool);
      assert.deepEqual(second, []);
    } finally {
      await pool.end();
    }
    assert.deepEqual(await appliedVersions(db.url), MIGRATIONS.map((m) => m.version));
  });

  it('lets two instances start together on a fresh database', async () => {
    db = await createTestDatabase();
    const [a, b] = await Promise.all([openStore({ url: db.url, poolSize: 3 }), openStore({ url: db.url, poolSize: 3 })]);
    try {
      assert.deepEqual(await appliedVersions(db.url), MIGRATIONS.map((m) => m.version));
      // Both work against the one schema: what one writes the other reads.
      const customer = await makeCustomer(a);
      assert.equal((await b.customers.get(customer.id))?.name, customer.name);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps data when the store is opened again', async () => {
    db = await createTestDatabase();
    const first = await openStore({ url: db.url });
    const customer = await makeCustomer(first);
    await first.close();
    const again = await openStore({ url: db.url });
    try {
      assert.deepEqual(await again.customers.get(customer.id), customer);
    } finally {
      await again.close();
    }
  });
});
