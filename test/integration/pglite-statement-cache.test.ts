import assert from 'node:assert/strict';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';

/**
 * The embedded server keeps the plans of repeated unnamed statements (pglite-statement-cache.ts);
 * a client must see exactly what a PostgreSQL server would show it.
 */
describe('embedded PostgreSQL: repeated statements', () => {
  let embedded: EmbeddedPostgres;
  let pool: pg.Pool;
  before(async () => {
    embedded = await startEmbeddedPostgres({ dataDir: null, host: '127.0.0.1', port: 0 });
    pool = new pg.Pool({ connectionString: embedded.url, max: 4 });
    await pool.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
  });
  after(async () => {
    await pool?.end();
    await embedded?.stop();
  });

  it('answers the same statement with each call’s own parameters, from several connections', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => pool.query('INSERT INTO items (id, label) VALUES ($1, $2)', [i, `item ${i}`])));
    const rows = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.query<{ label: string }>('SELECT label FROM items WHERE id = $1', [i])));
    assert.deepEqual(
      rows.map((r) => r.rows[0]?.label),
      Array.from({ length: 40 }, (_, i) => `item ${i}`),
    );
  });

  it('sees a column added after the statement was first run', async () => {
    const before = await pool.query('SELECT * FROM items WHERE id = $1', [1]);
    assert.deepEqual(Object.keys(before.rows[0]), ['id', 'label']);
    await pool.query('ALTER TABLE items ADD COLUMN note text');
    const after = await pool.query('SELECT * FROM items WHERE id = $1', [1]);
    assert.deepEqual(Object.keys(after.rows[0]), ['id', 'label', 'note']);
    await pool.query('ALTER TABLE items DROP COLUMN note');
    const again = await pool.query('SELECT * FROM items WHERE id = $1', [1]);
    assert.deepEqual(Object.keys(again.rows[0]), ['id', 'label']);
  });

  it('reports errors as a server does and keeps working after them', async () => {
    await assert.rejects(pool.query('SELEC label FROM items WHERE id = $1', [1]), /syntax error/);
    await assert.rejects(pool.query('SELEC label FROM items WHERE id = $1', [1]), /syntax error/);
    await assert.rejects(pool.query('INSERT INTO items (id, label) VALUES ($1, $2)', [1, 'dup']), (e: { code?: string }) => e.code === '23505');
    await assert.rejects(pool.query('SELECT label FROM items WHERE id = $1', ['not a number']), (e: { code?: string }) => e.code === '22P02');
    const ok = await pool.query<{ label: string }>('SELECT label FROM items WHERE id = $1', [2]);
    assert.equal(ok.rows[0]?.label, 'item 2');
  });

  it('keeps a client’s own named statements apart', async () => {
    const c = await pool.connect();
    try {
      const first = await c.query<{ label: string }>({ name: 'by-id', text: 'SELECT label FROM items WHERE id = $1', values: [3] });
      const second = await c.query<{ label: string }>({ name: 'by-id', text: 'SELECT label FROM items WHERE id = $1', values: [4] });
      assert.equal(first.rows[0]?.label, 'item 3');
      assert.equal(second.rows[0]?.label, 'item 4');
      // The same text unnamed, right after, on the same connection.
      const plain = await c.query<{ label: string }>('SELECT label FROM items WHERE id = $1', [5]);
      assert.equal(plain.rows[0]?.label, 'item 5');
    } finally {
      c.release();
    }
  });

  it('rolls back a failed transaction as a server does', async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('UPDATE items SET label = $1 WHERE id = $2', ['changed', 6]);
      await assert.rejects(c.query('INSERT INTO items (id, label) VALUES ($1, $2)', [6, 'dup']));
      await assert.rejects(c.query('SELECT label FROM items WHERE id = $1', [6]), /current transaction is aborted/);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    const row = await pool.query<{ label: string }>('SELECT label FROM items WHERE id = $1', [6]);
    assert.equal(row.rows[0]?.label, 'item 6');
  });
});
