import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { isAppError } from '../../src/domain/errors.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { makeCustomer, makeRequest, uuid } from './store-fixtures.js';

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

function nextNotification(c: pg.Client): Promise<pg.Notification> {
  return new Promise((resolve) => c.once('notification', resolve));
}

describe('store on the embedded PostgreSQL (PGlite)', () => {
  describe('in memory', () => {
    let embedded: EmbeddedPostgres;
    let store: Store;
    before(async () => {
      embedded = await startEmbeddedPostgres({ dataDir: null, host: '127.0.0.1', port: 0 });
      // Two instances starting together, as on the real server.
      const [a, b] = await Promise.all([openStore({ url: embedded.url }), openStore({ url: embedded.url })]);
      await b.close();
      store = a;
    });
    after(async () => {
      await store?.close();
      await embedded?.stop();
    });

    it('serves on loopback and answers ping', async () => {
      assert.match(embedded.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      assert.equal(await store.ping(), true);
    });

    it('decides races the same way as a server', async () => {
      const { request, customer, device } = await makeRequest(store, { state: 'notified' });
      const jti = uuid();
      await store.tokens.record({ jti, callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt: new Date(Date.now() + 60_000) });
      const consumed = await Promise.all(Array.from({ length: 10 }, (_, i) => store.tokens.consume(jti, `d${i}`, new Date())));
      assert.equal(consumed.filter((r) => r === 'consumed').length, 1);
      assert.equal(consumed.filter((r) => r === 'replayed').length, 9);

      const updates = await Promise.all([
        store.callRequests.update(request.id, request.version, { ...request, state: 'accepted', acceptedDeviceId: device.id }),
        store.callRequests.update(request.id, request.version, { ...request, state: 'snoozed', snoozeUntil: new Date(Date.now() + 1800_000) }),
      ]);
      assert.equal(updates.filter((u) => u !== null).length, 1);

      await Promise.all(Array.from({ length: 20 }, (_, i) => store.audit.append({ actor: 'system', action: 'test', subject: null, decision: 'info', reason: `n${i}`, data: { i } })));
      // The chain hash is computed in the database: awkward text must hash as audit-chain.ts does.
      await store.audit.append({ actor: 'sip', action: 'test', subject: 'x\u0000', decision: 'deny', reason: '"\ud800" ünïcødé \\ \n', data: { z: 1e21, a: [0.1 + 0.2, '\ud83d\ude00'], 'é': null } });
      const report = await store.audit.verify();
      assert.equal(report.ok, true);
      assert.equal(report.entries, 21);
    });

    it('keeps another connection out of an open transaction until it commits', async () => {
      const a = await client(embedded.url);
      const b = await client(embedded.url);
      try {
        const customer = await makeCustomer(store);
        await a.query('BEGIN');
        await a.query(`UPDATE customers SET name = 'Renamed' WHERE id = $1`, [customer.id]);
        const seenByB = b.query<{ name: string }>('SELECT name FROM customers WHERE id = $1', [customer.id]);
        await a.query(`UPDATE customers SET name = 'Renamed twice' WHERE id = $1`, [customer.id]);
        await a.query('COMMIT');
        // b ran after the commit, never in the middle of a's transaction.
        assert.equal((await seenByB).rows[0]?.name, 'Renamed twice');
      } finally {
        await a.end();
        await b.end();
      }
    });

    it('rolls back the open transaction of a client that disconnects', async () => {
      const customer = await makeCustomer(store);
      const a = await client(embedded.url);
      await a.query('BEGIN');
      await a.query(`UPDATE customers SET name = 'Half done' WHERE id = $1`, [customer.id]);
      await a.end();
      assert.equal((await store.customers.get(customer.id))?.name, customer.name);
    });

    it('reports SQL errors to the client that caused them only', async () => {
      const a = await client(embedded.url);
      try {
        const [bad, good] = await Promise.allSettled([a.query('SELECT 1/0'), store.customers.search('x', 1)]);
        assert.equal(bad.status, 'rejected');
        assert.equal(good.status, 'fulfilled');
        assert.equal((await a.query('SELECT $1::int + 1 AS n', [41])).rows[0].n, 42);
      } finally {
        await a.end();
      }
    });

    it('drops a client that speaks something other than PostgreSQL and keeps serving', async () => {
      const { port } = new URL(embedded.url);
      await new Promise<void>((resolve) => {
        const s = net.connect(Number(port), '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'));
        s.on('close', () => resolve());
        s.on('error', () => undefined);
      });
      assert.equal(await store.ping(), true);
    });

    it('delivers NOTIFY to the connections that LISTEN, across connections', async () => {
      const listener = await client(embedded.url);
      const other = await client(embedded.url);
      const notifier = await client(embedded.url);
      const strays: pg.Notification[] = [];
      notifier.on('notification', (n) => strays.push(n));
      try {
        await listener.query('LISTEN "jobs:due"');
        await other.query('LISTEN "jobs:due"');

        let got = nextNotification(listener);
        let gotOther = nextNotification(other);
        await notifier.query(`NOTIFY "jobs:due", 'job-1'`);
        assert.deepEqual([(await got).channel, (await got).payload], ['jobs:due', 'job-1']);
        assert.equal((await gotOther).payload, 'job-1');

        // One connection leaving the channel does not take it away from the other.
        await other.query('UNLISTEN "jobs:due"');
        got = nextNotification(listener);
        await notifier.query('BEGIN');
        await notifier.query(`SELECT pg_notify('jobs:due', 'job-2')`);
        await notifier.query('COMMIT');
        assert.equal((await got).payload, 'job-2');

        await notifier.query('SELECT 1');
        assert.deepEqual(strays, [], 'a connection that did not LISTEN gets nothing');
      } finally {
        await listener.end();
        await other.end();
        await notifier.end();
      }
    });
  });

  describe('with a data directory', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'knock-embedded-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('keeps data across a stop and restart', async () => {
      const dataDir = path.join(dir, 'pg');
      const first = await startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: 0 });
      let customerId: string;
      try {
        await assert.rejects(
          startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: 0 }),
          (e) => isAppError(e) && e.code === 'unavailable' && /in use/.test(e.message),
          'a second opener of the same directory is refused',
        );
        const store = await openStore({ url: first.url });
        const customer = await makeCustomer(store);
        customerId = customer.id;
        await store.audit.append({ actor: 'system', action: 'demo.load', subject: null, decision: 'info', reason: 'first start' });
        await store.close();
      } finally {
        await first.stop();
      }

      const second = await startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: 0 });
      try {
        const store = await openStore({ url: second.url });
        try {
          assert.equal((await store.customers.get(customerId))?.id, customerId);
          assert.deepEqual(await store.audit.verify(), { ok: true, entries: 1, firstBadSeq: null, problem: null });
        } finally {
          await store.close();
        }
      } finally {
        await second.stop();
      }
    });
  });
});
