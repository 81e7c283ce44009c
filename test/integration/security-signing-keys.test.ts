/**
 * The token signing key ring on the real store: first key, reuse, rotation with overlap, the
 * published JWK Set, and several instances starting at once.
 */
import assert from 'node:assert/strict';
import { sign, verify } from 'node:crypto';
import { KeyRing } from '../../src/security/signing-keys.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const DAY = 86_400_000;
const OPTIONS = { rotationDays: 30, overlapSeconds: 300 };

function signsFor(signer: KeyRing, verifier: KeyRing, now: Date): boolean {
  const { kid, privateKey } = signer.current();
  const data = Buffer.from('probe');
  const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const key = verifier.verificationKey(kid, now);
  return key !== null && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

describe('security: signing key ring', () => {
  let db: TestDatabase;
  let store: Store;

  beforeEach(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url });
  });
  afterEach(async () => {
    await store?.close();
    await db?.drop();
  });

  it('creates a first key on an empty store and reuses it on the next start', async () => {
    const first = await KeyRing.load(store, OPTIONS, T0);
    const kid = first.current().kid;
    assert.match(kid, /^[A-Za-z0-9_-]{22}$/);
    const again = await KeyRing.load(store, OPTIONS, new Date(T0.getTime() + 29 * DAY));
    assert.equal(again.current().kid, kid);
    assert.equal((await store.signingKeys.list()).length, 1);
    assert.ok(signsFor(first, again, T0));
  });

  it('publishes public keys only, ready for /.well-known/jwks.json', async () => {
    const ring = await KeyRing.load(store, OPTIONS, T0);
    const { keys } = ring.jwks(T0);
    assert.equal(keys.length, 1);
    const [k] = keys;
    assert.deepEqual(Object.keys(k!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(k!.kid, ring.current().kid);
    assert.equal(k!.alg, 'ES256');
    assert.ok(!JSON.stringify(keys).includes('"d"'));
  });

  it('replaces a key older than rotationDays and keeps the old one for the overlap only', async () => {
    const ring = await KeyRing.load(store, OPTIONS, T0);
    const oldKid = ring.current().kid;
    const later = new Date(T0.getTime() + 31 * DAY);
    await ring.refresh(later);
    const newKid = ring.current().kid;
    assert.notEqual(newKid, oldKid);

    const stored = await store.signingKeys.list();
    assert.equal(stored.length, 2);
    assert.equal(stored.find((k) => k.kid === oldKid)?.retiredAt?.getTime(), later.getTime());
    assert.equal(stored.find((k) => k.kid === newKid)?.retiredAt, null);

    const within = new Date(later.getTime() + 299_000);
    const beyond = new Date(later.getTime() + 300_000);
    assert.ok(ring.verificationKey(oldKid, within));
    assert.equal(ring.verificationKey(oldKid, beyond), null);
    assert.ok(ring.verificationKey(newKid, beyond));
    assert.deepEqual(ring.jwks(within).keys.map((k) => k.kid), [newKid, oldKid]);
    assert.deepEqual(ring.jwks(beyond).keys.map((k) => k.kid), [newKid]);

    // A fresh start after the overlap does not even load the old key.
    const restarted = await KeyRing.load(store, OPTIONS, beyond);
    assert.equal(restarted.current().kid, newKid);
    assert.equal(restarted.verificationKey(oldKid, within), null);
  });

  it('rotates on demand and retires the previous key', async () => {
    const ring = await KeyRing.load(store, OPTIONS, T0);
    const oldKid = ring.current().kid;
    const kid = await ring.rotate(new Date(T0.getTime() + 1000));
    assert.equal(ring.current().kid, kid);
    const stored = await store.signingKeys.list();
    assert.ok(stored.find((k) => k.kid === oldKid)?.retiredAt);
    assert.ok(ring.verificationKey(oldKid, new Date(T0.getTime() + 2000)));
  });

  it('tolerates instances starting at once: few keys, one signer, mutual verification', async () => {
    const rings = await Promise.all(Array.from({ length: 4 }, () => KeyRing.load(store, OPTIONS, T0)));
    const created = (await store.signingKeys.list()).length;
    assert.ok(created >= 1 && created <= 4);
    for (const r of rings) await r.refresh(new Date(T0.getTime() + 1000));
    const kids = new Set(rings.map((r) => r.current().kid));
    assert.equal(kids.size, 1, 'after a refresh every instance signs with the same newest key');
    for (const a of rings) for (const b of rings) assert.ok(signsFor(a, b, new Date(T0.getTime() + 2000)));

    // Later starts and refreshes add nothing while the keys are young.
    await KeyRing.load(store, OPTIONS, new Date(T0.getTime() + DAY));
    for (const r of rings) await r.refresh(new Date(T0.getTime() + 2 * DAY));
    assert.equal((await store.signingKeys.list()).length, created);
    const active = (await store.signingKeys.list()).filter((k) => !k.retiredAt);
    assert.equal(active.length, created, 'no instance retired a sibling key');
  });

  it('retires every due key when several instances rotate at once, and settles on one signer', async () => {
    await KeyRing.load(store, OPTIONS, T0);
    const due = new Date(T0.getTime() + 31 * DAY);
    const rings = await Promise.all(Array.from({ length: 3 }, () => KeyRing.load(store, OPTIONS, due)));
    const stored = await store.signingKeys.list();
    const original = stored[stored.length - 1]!;
    assert.ok(original.retiredAt, 'the due key is retired');
    for (const r of rings) await r.refresh(new Date(due.getTime() + 1000));
    assert.equal(new Set(rings.map((r) => r.current().kid)).size, 1);
    assert.ok(stored.filter((k) => !k.retiredAt).length <= 3);
  });
});
