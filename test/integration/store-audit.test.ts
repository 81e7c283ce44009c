import assert from 'node:assert/strict';
import pg from 'pg';
import { auditEntryHash, canonicalJson, GENESIS_HASH } from '../../src/store/audit-chain.js';
import { openTestStore, type StoreFixture } from './store-fixtures.js';

async function sql(url: string, text: string, values: unknown[] = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

const entry = (i: number) => ({
  actor: `device:${i}`,
  action: 'token.verify',
  subject: `call_request:${i % 3}`,
  decision: (i % 2 === 0 ? 'allow' : 'deny') as 'allow' | 'deny',
  reason: i % 2 === 0 ? 'token valid and bound' : 'token replayed',
  data: { i, jti: `jti-${i}`, nested: { z: 1, a: [true, null, 'x'] } },
});

describe('audit log hash chain', () => {
  describe('appending', () => {
    let fx: StoreFixture;
    before(async () => {
      fx = await openTestStore();
    });
    after(async () => {
      await fx?.close();
    });

    it('links each entry to the one before, starting from 64 zeros', async () => {
      const a = await fx.store.audit.append(entry(0));
      const b = await fx.store.audit.append({ ...entry(1), subject: null, data: undefined });
      assert.equal(a.seq, 1);
      assert.equal(a.prevHash, GENESIS_HASH);
      assert.match(a.hash, /^[0-9a-f]{64}$/);
      assert.equal(b.seq, 2);
      assert.equal(b.prevHash, a.hash);
      assert.deepEqual(b.data, {});
      assert.equal(b.subject, null);
      assert.deepEqual(await fx.store.audit.list({}), [a, b]);
      assert.deepEqual(await fx.store.audit.verify(), { ok: true, entries: 2, firstBadSeq: null, problem: null });
    });

    it('forms one unbroken chain from 20 concurrent appends', async () => {
      const before = (await fx.store.audit.list({ limit: 1000 })).length;
      const written = await Promise.all(Array.from({ length: 20 }, (_, i) => fx.store.audit.append(entry(i))));
      const seqs = written.map((e) => e.seq).sort((x, y) => x - y);
      assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => before + 1 + i));
      assert.deepEqual(await fx.store.audit.verify(), { ok: true, entries: before + 20, firstBadSeq: null, problem: null });
    });

    it('stores awkward data so that it still verifies', async () => {
      const e = await fx.store.audit.append({
        actor: 'sip',
        action: 'invite.reject',
        subject: 'dialog:abc',
        decision: 'deny',
        reason: 'malformed From header: "\u0000\ud800" ünïcødé',
        data: { when: new Date('2030-01-01T00:00:00Z'), big: 1e21, tiny: 0.1 + 0.2, skip: undefined, 'b\u0000': ['\ud83d'], a: -0 },
      });
      const [stored] = await fx.store.audit.list({ afterSeq: e.seq - 1, limit: 1 });
      assert.deepEqual(stored, e);
      assert.equal((await fx.store.audit.verify()).ok, true);
    });

    it('lists by subject and after a sequence number', async () => {
      const all = await fx.store.audit.list({ limit: 1000 });
      const forOne = await fx.store.audit.list({ subject: 'call_request:1', limit: 1000 });
      assert.ok(forOne.length > 0);
      assert.ok(forOne.every((e) => e.subject === 'call_request:1'));
      const tail = await fx.store.audit.list({ afterSeq: all.length - 3 });
      assert.deepEqual(tail.map((e) => e.seq), [all.length - 2, all.length - 1, all.length]);
    });

    it('is refused any UPDATE, DELETE or TRUNCATE by the database', async () => {
      await assert.rejects(sql(fx.db.url, `UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 1`), /append-only/);
      await assert.rejects(sql(fx.db.url, 'DELETE FROM audit_log WHERE seq = 1'), /append-only/);
      await assert.rejects(sql(fx.db.url, 'TRUNCATE audit_log'), /append-only/);
      assert.equal((await fx.store.audit.verify()).ok, true);
    });
  });

  describe('tampering by someone with table rights', () => {
    let fx: StoreFixture;
    beforeEach(async () => {
      fx = await openTestStore();
      for (let i = 0; i < 6; i++) await fx.store.audit.append(entry(i));
      await sql(fx.db.url, 'ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
    });
    afterEach(async () => {
      await fx?.close();
    });

    it('detects an edited reason', async () => {
      await sql(fx.db.url, `UPDATE audit_log SET reason = 'token valid' WHERE seq = 4`);
      const report = await fx.store.audit.verify();
      assert.equal(report.ok, false);
      assert.equal(report.firstBadSeq, 4);
      assert.equal(report.entries, 3);
      assert.match(report.problem!, /entry 4 was altered/);
    });

    it('detects edited data even when the row hash is recomputed', async () => {
      const [row] = await fx.store.audit.list({ afterSeq: 2, limit: 1 });
      const forged = { ...row!, decision: 'allow' as const, data: { ...row!.data, i: 99 } };
      const forgedHash = auditEntryHash(forged);
      await sql(fx.db.url, `UPDATE audit_log SET decision = 'allow', data = $1::jsonb, hash = $2 WHERE seq = 3`, [
        JSON.stringify(forged.data),
        forgedHash,
      ]);
      const report = await fx.store.audit.verify();
      assert.equal(report.ok, false);
      assert.equal(report.firstBadSeq, 4);
      assert.match(report.problem!, /does not link/);
    });

    it('detects a deleted row in the middle', async () => {
      await sql(fx.db.url, 'DELETE FROM audit_log WHERE seq = 3');
      const report = await fx.store.audit.verify();
      assert.equal(report.ok, false);
      assert.equal(report.firstBadSeq, 3);
      assert.match(report.problem!, /entry 3 is missing/);
    });

    it('detects a deleted row renumbered to hide the gap', async () => {
      await sql(fx.db.url, 'DELETE FROM audit_log WHERE seq = 2');
      await sql(fx.db.url, 'UPDATE audit_log SET seq = seq - 1 WHERE seq > 2');
      const report = await fx.store.audit.verify();
      assert.equal(report.ok, false);
      assert.equal(report.firstBadSeq, 2);
    });
  });

  describe('canonical form', () => {
    it('sorts keys at every level and ignores undefined', () => {
      assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }), '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
      assert.equal(canonicalJson([undefined, 'é']), '[null,"é"]');
    });
  });
});
