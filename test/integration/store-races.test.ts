import assert from 'node:assert/strict';
import { makeAgent, makeCustomer, makeDevice, makeRequest, newRequest, tag, useTestStore, uuid } from './store-fixtures.js';

const seconds = (n: number, from = new Date()) => new Date(from.getTime() + n * 1000);

describe('store decides races', () => {
  const store = useTestStore();

  describe('call request compare-and-set', () => {
    it('lets exactly one of two writers with the same version win', async () => {
      const { request, device } = await makeRequest(store, { state: 'notified' });
      const [accept, schedule] = await Promise.all([
        store.callRequests.update(request.id, request.version, { ...request, state: 'accepted', acceptedDeviceId: device.id }),
        store.callRequests.update(request.id, request.version, { ...request, state: 'scheduled', scheduledFor: seconds(3600) }),
      ]);
      const winners = [accept, schedule].filter((r) => r !== null);
      assert.equal(winners.length, 1);
      const stored = (await store.callRequests.get(request.id))!;
      assert.equal(stored.version, request.version + 1);
      assert.equal(stored.state, winners[0]!.state);
    });

    it('refuses a write based on a stale version', async () => {
      const { request } = await makeRequest(store);
      assert.ok(await store.callRequests.update(request.id, request.version, { ...request, state: 'notified' }));
      assert.equal(await store.callRequests.update(request.id, request.version, { ...request, state: 'cancelled' }), null);
      assert.equal((await store.callRequests.get(request.id))?.state, 'notified');
    });

    it('answers null for an unknown request', async () => {
      const { request } = await makeRequest(store);
      assert.equal(await store.callRequests.update(uuid(), 1, request), null);
      assert.equal(await store.callRequests.update('garbage', 1, request), null);
    });
  });

  describe('idempotent call request creation', () => {
    it('returns the same request for a repeated idempotency key', async () => {
      const agent = await makeAgent(store);
      const customer = await makeCustomer(store);
      const key = `retry-${tag()}`;
      const first = await store.callRequests.create(newRequest(agent.id, customer.id, { idempotencyKey: key }));
      // The request ended, so only the key can match now.
      await store.callRequests.update(first.request.id, 1, { ...first.request, state: 'cancelled', outcome: 'cancelled' });
      const again = await store.callRequests.create(newRequest(agent.id, customer.id, { idempotencyKey: key, reason: 'other' }));
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.request.id, first.request.id);
    });

    it('returns the open request for a second knock on the same customer by the same agent', async () => {
      const agent = await makeAgent(store);
      const customer = await makeCustomer(store);
      const first = await store.callRequests.create(newRequest(agent.id, customer.id));
      const second = await store.callRequests.create(newRequest(agent.id, customer.id, { idempotencyKey: `k-${tag()}` }));
      assert.equal(second.created, false);
      assert.equal(second.request.id, first.request.id);
      // Another agent may still knock on the same customer.
      const other = await makeAgent(store);
      assert.equal((await store.callRequests.create(newRequest(other.id, customer.id))).created, true);
    });

    it('creates a new request once the previous one has ended', async () => {
      const agent = await makeAgent(store);
      const customer = await makeCustomer(store);
      const first = await store.callRequests.create(newRequest(agent.id, customer.id));
      await store.callRequests.update(first.request.id, 1, { ...first.request, state: 'cancelled', outcome: 'cancelled' });
      const next = await store.callRequests.create(newRequest(agent.id, customer.id));
      assert.equal(next.created, true);
      assert.notEqual(next.request.id, first.request.id);
    });

    it('creates exactly one request when the same key arrives 8 times at once', async () => {
      const agent = await makeAgent(store);
      const customer = await makeCustomer(store);
      const key = `burst-${tag()}`;
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.callRequests.create(newRequest(agent.id, customer.id, { idempotencyKey: key }))),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.request.id)).size, 1);
      assert.equal((await store.callRequests.list({ customerId: customer.id })).length, 1);
    });
  });

  describe('pre-authentication tokens', () => {
    async function issue(expiresAt: Date) {
      const { request, customer, device } = await makeRequest(store);
      const jti = uuid();
      await store.tokens.record({ jti, callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt });
      return jti;
    }

    it('is consumed by exactly one of 10 concurrent callers, the rest see a replay', async () => {
      const jti = await issue(seconds(60));
      const now = new Date();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.tokens.consume(jti, `dialog-${i}`, now)));
      assert.equal(results.filter((r) => r === 'consumed').length, 1);
      assert.equal(results.filter((r) => r === 'replayed').length, 9);
      const winner = results.indexOf('consumed');
      const stored = (await store.tokens.get(jti))!;
      assert.equal(stored.dialogId, `dialog-${winner}`, 'the winner bound its dialog');
      assert.deepEqual(stored.consumedAt, now);
    });

    it('reports an expired token as expired, and an unknown one as unknown', async () => {
      const jti = await issue(seconds(-1));
      assert.equal(await store.tokens.consume(jti, 'd', new Date()), 'expired');
      assert.equal((await store.tokens.get(jti))?.consumedAt, null);
      assert.equal(await store.tokens.consume(uuid(), 'd', new Date()), 'unknown');
    });

    it('keeps reporting a replay after the token is used', async () => {
      const jti = await issue(seconds(60));
      assert.equal(await store.tokens.consume(jti, 'd1', new Date()), 'consumed');
      assert.equal(await store.tokens.consume(jti, 'd2', new Date()), 'replayed');
      assert.equal((await store.tokens.get(jti))?.dialogId, 'd1');
    });

    it('purges only expired tokens', async () => {
      const old = await issue(seconds(-10));
      const live = await issue(seconds(60));
      assert.ok((await store.tokens.purgeExpired(new Date())) >= 1);
      assert.equal(await store.tokens.get(old), null);
      assert.notEqual(await store.tokens.get(live), null);
    });
  });

  describe('challenges', () => {
    it('can be used once, only by its device, only before expiry', async () => {
      const { request, device, customer } = await makeRequest(store);
      const otherDevice = await makeDevice(store, customer.id);
      const now = new Date();
      const c = await store.challenges.create({
        id: uuid(),
        deviceId: device.id,
        callRequestId: request.id,
        purpose: 'accept',
        value: 'bm9uY2U',
        expiresAt: seconds(60, now),
      });
      assert.equal(await store.challenges.consume(c.id, otherDevice.id, now), null, 'another device cannot use it');
      const results = await Promise.all(Array.from({ length: 5 }, () => store.challenges.consume(c.id, device.id, now)));
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.deepEqual(results.find((r) => r !== null)?.usedAt, now);

      const expired = await store.challenges.create({ ...c, id: uuid(), expiresAt: seconds(-1, now) });
      assert.equal(await store.challenges.consume(expired.id, device.id, now), null);
      assert.equal(await store.challenges.consume('not-a-challenge', 'not-a-device', now), null);
    });
  });

  describe('PIN checks', () => {
    const T = new Date('2030-01-01T10:00:00.000Z');
    const LEASE = new Date('2030-01-01T10:00:30.000Z');
    const lockUntil = new Date('2030-01-01T10:15:00.000Z');

    it('counts wrong PINs and locks at the limit, then starts counting again; a right PIN clears the count', async () => {
      const customer = await makeCustomer(store);
      const device = await makeDevice(store, customer.id);
      const wrong = async () => {
        assert.equal((await store.devices.reservePinCheck(device.id, 3, T, LEASE)).reserved, true);
        return store.devices.finishPinCheck(device.id, false, 3, lockUntil, T);
      };
      const s1 = await wrong();
      assert.equal(s1.pinFailedAttempts, 1);
      assert.equal(s1.pinLockedUntil, null);
      assert.equal((await store.devices.reservePinCheck(device.id, 3, T, LEASE)).reserved, true);
      const right = await store.devices.finishPinCheck(device.id, true, 3, lockUntil, T);
      assert.equal(right.pinFailedAttempts, 0);
      await wrong();
      await wrong();
      const s3 = await wrong();
      assert.equal(s3.pinFailedAttempts, 0);
      assert.deepEqual(s3.pinLockedUntil, lockUntil);
      assert.equal(s3.pinHash, 'scrypt$pin');
      const refused = await store.devices.reservePinCheck(device.id, 3, T, LEASE);
      assert.deepEqual(refused, { reserved: false, secrets: { pinHash: 'scrypt$pin', pinFailedAttempts: 0, pinLockedUntil: lockUntil, pinVersion: 0 } });
      // A new PIN does not lift the lock.
      assert.equal(await store.devices.setPin(device.id, 'scrypt$new', 0), true);
      assert.deepEqual(await store.devices.secrets(device.id), { pinHash: 'scrypt$new', pinFailedAttempts: 0, pinLockedUntil: lockUntil, pinVersion: 1 });
      // A change checked against the PIN before is not made.
      assert.equal(await store.devices.setPin(device.id, 'scrypt$other', 0), false);
    });

    it('reserves no more comparisons than the attempts left, whatever the concurrency', async () => {
      const customer = await makeCustomer(store);
      const device = await makeDevice(store, customer.id);
      const results = await Promise.all(Array.from({ length: 12 }, () => store.devices.reservePinCheck(device.id, 5, T, LEASE)));
      assert.equal(results.filter((r) => r.reserved).length, 5);
      // Two wrong answers come back: two failures, and no place freed for more comparisons.
      await store.devices.finishPinCheck(device.id, false, 5, lockUntil, T);
      await store.devices.finishPinCheck(device.id, false, 5, lockUntil, T);
      assert.equal((await store.devices.reservePinCheck(device.id, 5, T, LEASE)).reserved, false);
      // A right answer frees its place and clears the failures.
      await store.devices.finishPinCheck(device.id, true, 5, lockUntil, T);
      const again = await Promise.all(Array.from({ length: 6 }, () => store.devices.reservePinCheck(device.id, 5, T, LEASE)));
      assert.equal(again.filter((r) => r.reserved).length, 3, 'five places, two still in flight');
    });

    it('frees the places of comparisons whose lease ended', async () => {
      const customer = await makeCustomer(store);
      const device = await makeDevice(store, customer.id);
      for (let i = 0; i < 5; i++) assert.equal((await store.devices.reservePinCheck(device.id, 5, T, LEASE)).reserved, true);
      assert.equal((await store.devices.reservePinCheck(device.id, 5, T, LEASE)).reserved, false);
      const later = new Date(LEASE.getTime() + 1);
      assert.equal((await store.devices.reservePinCheck(device.id, 5, later, new Date(later.getTime() + 30_000))).reserved, true);
    });

    it('refuses an unknown device', async () => {
      assert.deepEqual(await store.devices.reservePinCheck(uuid(), 3, T, LEASE), { reserved: false, secrets: null });
      await assert.rejects(store.devices.finishPinCheck(uuid(), false, 3, new Date(), new Date()), /not enrolled/);
    });
  });

  describe('agent reservation', () => {
    it('gives an available agent to exactly one of several routers', async () => {
      const agent = await makeAgent(store);
      await store.agents.setAvailability(agent.id, 'available', new Date());
      const results = await Promise.all(Array.from({ length: 6 }, () => store.agents.reserve(agent.id)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await store.agents.get(agent.id))?.availability, 'busy');
      assert.equal(await store.agents.reserve(agent.id), false);
    });
  });

  describe('enrollment codes', () => {
    it('binds a code to one of several devices enrolling at once', async () => {
      const customer = await makeCustomer(store);
      const now = new Date();
      const hash = `h-${tag()}`;
      await store.enrollmentCodes.create(customer.id, hash, seconds(600, now));
      const results = await Promise.all(Array.from({ length: 5 }, () => store.enrollmentCodes.consume(hash, now)));
      assert.deepEqual(results.filter((r) => r !== null), [customer.id]);
    });
  });
});
