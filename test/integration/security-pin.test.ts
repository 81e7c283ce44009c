/**
 * Device PIN checks on the real store: counting down, locking, unlocking, and the attempt limit
 * holding when guesses arrive in parallel.
 */
import assert from 'node:assert/strict';
import { AppError, type ErrorCode } from '../../src/domain/errors.js';
import { importDevicePublicKey } from '../../src/security/device-key.js';
import { checkPin, hashPin, type PinPolicy } from '../../src/security/pin.js';
import { randomSecret, sha256Hex } from '../../src/security/secrets.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';

const PIN = '482913';
const POLICY: PinPolicy = { maxAttempts: 5, lockoutMinutes: 15 };
const T0 = new Date('2030-02-03T10:00:00.000Z');
const minutes = (m: number) => new Date(T0.getTime() + m * 60_000);
// Cheap scrypt parameters: the lock-out logic is under test here, not the hash cost.
const FAST = { N: 1024, r: 8, p: 1 };

async function outcome(p: Promise<unknown>): Promise<'ok' | ErrorCode> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof AppError) return e.code;
    throw e;
  }
}

async function refused(p: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AppError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

describe('security: device PIN', () => {
  let db: TestDatabase;
  let store: Store;
  let pinHash: string;

  before(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url });
    pinHash = await hashPin(PIN, FAST);
  });
  after(async () => {
    await store?.close();
    await db?.drop();
  });

  async function newDevice(withPin = true): Promise<string> {
    const customer = await store.customers.create({ name: 'Ada', phoneE164: null, timeZone: 'Europe/London', externalRef: null });
    const key = importDevicePublicKey(new SoftDeviceKey().publicJwk);
    const device = await store.devices.create({
      customerId: customer.id,
      label: 'phone',
      publicKeyJwk: { ...key.jwk },
      keyThumbprint: key.thumbprint,
      webauthn: null,
      pushSubscription: null,
      pinHash: withPin ? pinHash : null,
      credentialHash: sha256Hex(randomSecret()),
    });
    return device.id;
  }

  const check = (deviceId: string, pin: string, now = T0) => checkPin({ store, deviceId, pin, policy: POLICY, now });

  it('accepts the right PIN', async () => {
    const id = await newDevice();
    await check(id, PIN);
    assert.equal((await store.devices.secrets(id))?.pinFailedAttempts, 0);
  });

  it('counts wrong PINs down, then locks even against the right PIN', async () => {
    const id = await newDevice();
    for (const left of [4, 3, 2, 1]) {
      const err = await refused(check(id, '000111'), 'auth_failed');
      assert.equal(err.details?.attemptsLeft, left);
      assert.match(err.message, new RegExp(`${left} attempts? left`));
      assert.ok(!err.message.includes('000111'));
    }
    const locking = await refused(check(id, '000111'), 'pin_locked');
    assert.equal(locking.details?.lockedUntil, minutes(15).toISOString());

    const stillLocked = await refused(check(id, PIN, minutes(1)), 'pin_locked');
    assert.equal(stillLocked.details?.lockedUntil, minutes(15).toISOString());
    assert.match(stillLocked.message, /locked until/);
    await refused(check(id, PIN, new Date(minutes(15).getTime() - 1)), 'pin_locked');
  });

  it('unlocks when the lock-out time has passed, with a fresh set of attempts', async () => {
    const id = await newDevice();
    for (let i = 0; i < POLICY.maxAttempts; i++) await outcome(check(id, '000111'));
    await refused(check(id, PIN, minutes(5)), 'pin_locked');
    await check(id, PIN, minutes(15));
    const err = await refused(check(id, '000111', minutes(16)), 'auth_failed');
    assert.equal(err.details?.attemptsLeft, 4);
  });

  it('a right PIN resets the count, including on the last allowed attempt', async () => {
    const id = await newDevice();
    for (let i = 0; i < 2; i++) await refused(check(id, '000111'), 'auth_failed');
    await check(id, PIN);
    assert.equal((await refused(check(id, '000111'), 'auth_failed')).details?.attemptsLeft, 4);

    const other = await newDevice();
    for (let i = 0; i < POLICY.maxAttempts - 1; i++) await refused(check(other, '000111'), 'auth_failed');
    await check(other, PIN); // the 5th attempt is still an attempt
    const secrets = await store.devices.secrets(other);
    assert.equal(secrets?.pinFailedAttempts, 0);
    assert.equal(secrets?.pinLockedUntil, null);
    await check(other, PIN);
  });

  it('compares no more guesses than the limit when they arrive in parallel', async () => {
    const id = await newDevice();
    const results = await Promise.all(Array.from({ length: 12 }, () => outcome(check(id, '000111'))));
    assert.equal(results.filter((r) => r === 'auth_failed').length, POLICY.maxAttempts - 1);
    assert.equal(results.filter((r) => r === 'pin_locked').length, 12 - (POLICY.maxAttempts - 1));
    await refused(check(id, PIN, minutes(1)), 'pin_locked');
  });

  it('never locks out right PINs sent in parallel: only wrong answers count', async () => {
    const id = await newDevice();
    const results = await Promise.all(Array.from({ length: 20 }, () => outcome(check(id, PIN))));
    assert.deepEqual(results, Array(20).fill('ok'));
    assert.deepEqual(await store.devices.secrets(id), { pinHash, pinFailedAttempts: 0, pinLockedUntil: null, pinVersion: 0 });
  });

  it('a right PIN under the limit succeeds among parallel wrong ones', async () => {
    const id = await newDevice();
    await refused(check(id, '000111'), 'auth_failed');
    // 1 + 3 wrong answers stay under the limit of 5, however the four answers interleave.
    const results = await Promise.all([outcome(check(id, PIN)), ...Array.from({ length: 3 }, () => outcome(check(id, '000111')))]);
    assert.deepEqual(results, ['ok', 'auth_failed', 'auth_failed', 'auth_failed']);
    assert.equal((await store.devices.secrets(id))?.pinLockedUntil, null);
  });

  it('refuses a device without a PIN and an unknown device', async () => {
    const id = await newDevice(false);
    assert.match((await refused(check(id, PIN), 'auth_failed')).message, /No PIN/);
    await refused(check('00000000-0000-4000-8000-000000000000', PIN), 'not_found');
  });
});
