import assert from 'node:assert/strict';
import { makeCustomer, makeDevice, makeRequest, useTestStore, uuid } from './store-fixtures.js';

// What a customer call's admission reads in one statement: the device, the customer and the call
// request the token names, each null when it does not exist.
describe('store: token admission context (device, customer and request in one read)', () => {
  const store = useTestStore();

  it('returns the enrolled device key and owner with the customer name and number, and the request as stored', async () => {
    const { customer, device, request } = await makeRequest(store, { state: 'authenticated' });
    const ctx = await store.tokens.admissionContext(device.id, customer.id, request.id);
    assert.deepEqual(ctx.device, { id: device.id, customerId: customer.id, publicKeyJwk: device.publicKeyJwk, revokedAt: null });
    assert.deepEqual(ctx.customer, { id: customer.id, name: customer.name, phoneE164: customer.phoneE164 });
    assert.deepEqual(ctx.request, await store.callRequests.get(request.id));
  });

  it('returns a revoked device with its revocation time, so the caller can refuse it', async () => {
    const customer = await makeCustomer(store);
    const device = await makeDevice(store, customer.id);
    const at = new Date(Date.now() - 60_000);
    await store.devices.revoke(device.id, at);
    const ctx = await store.tokens.admissionContext(device.id, customer.id, uuid());
    assert.equal(ctx.device?.revokedAt?.getTime(), at.getTime());
  });

  it("returns the device's real owner when the token names another customer", async () => {
    const owner = await makeCustomer(store);
    const other = await makeCustomer(store);
    const device = await makeDevice(store, owner.id);
    const ctx = await store.tokens.admissionContext(device.id, other.id, uuid());
    assert.equal(ctx.device?.customerId, owner.id);
    assert.equal(ctx.customer?.id, other.id);
  });

  it('gives null for ids that match nothing or are not ids at all', async () => {
    const customer = await makeCustomer(store);
    assert.deepEqual(await store.tokens.admissionContext(uuid(), customer.id, uuid()), {
      device: null,
      customer: { id: customer.id, name: customer.name, phoneE164: customer.phoneE164 },
      request: null,
    });
    assert.deepEqual(await store.tokens.admissionContext(uuid(), uuid(), uuid()), { device: null, customer: null, request: null });
    assert.deepEqual(await store.tokens.admissionContext('not-a-uuid', "x' OR 1=1 --", 'nope'), { device: null, customer: null, request: null });
  });
});
