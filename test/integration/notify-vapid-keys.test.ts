/**
 * VAPID keys: configured ones are used as they are; otherwise one pair is generated and kept in
 * the database, so every instance (and every restart) signs with the key browsers subscribed to.
 */
import assert from 'node:assert/strict';
import webpush from 'web-push';
import { ensureVapidKeys, VAPID_SETTING_KEY } from '../../src/notify/vapid-keys.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const subject = 'mailto:ops@knock.example';
const empty = { publicKey: '', privateKey: '', subject };
const isValidationError = (e: Error & { code?: string }) => e.code === 'validation_failed';

describe('notify: VAPID keys', () => {
  let db: TestDatabase;
  let store: Store;
  let second: Store;

  before(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url });
    second = await openStore({ url: db.url });
  });
  after(async () => {
    await second?.close();
    await store?.close();
    await db?.drop();
  });

  it('generates one pair and every instance gets the same one', async () => {
    const [a, b] = await Promise.all([ensureVapidKeys(empty, store.settings), ensureVapidKeys(empty, second.settings)]);
    const again = await ensureVapidKeys(empty, store.settings);

    assert.deepEqual(a, b);
    assert.deepEqual(again, a);
    assert.equal(a.subject, subject);
    assert.equal(Buffer.from(a.publicKey, 'base64url').length, 65);
    assert.ok(await store.settings.get(VAPID_SETTING_KEY));
  });

  it('uses configured keys as they are', async () => {
    const configured = { ...webpush.generateVAPIDKeys(), subject };
    const keys = await ensureVapidKeys(configured, store.settings);
    assert.deepEqual(keys, configured);
  });

  it('refuses half a configured pair, a mismatched pair, or a bad subject', async () => {
    const one = webpush.generateVAPIDKeys();
    const two = webpush.generateVAPIDKeys();
    await assert.rejects(ensureVapidKeys({ ...empty, publicKey: one.publicKey }, store.settings), isValidationError);
    await assert.rejects(ensureVapidKeys({ publicKey: one.publicKey, privateKey: two.privateKey, subject }, store.settings), isValidationError);
    await assert.rejects(ensureVapidKeys({ ...one, subject: 'ops@knock.example' }, store.settings), isValidationError);
  });
});
