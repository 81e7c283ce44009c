import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/security/secrets.js';
import type { NewAuditEntry } from '../../src/store/store.js';
import { makeAgent, makeCustomer, makeDevice, makeRequest, newRequest, tag, useTestStore } from './store-fixtures.js';

const entry = (subject: string, reason: string): NewAuditEntry => ({
  actor: 'agent:test',
  action: 'request.test',
  subject,
  decision: 'allow',
  reason,
  data: { note: reason },
});

describe('store writes a call request and its audit entry together', () => {
  const store = useTestStore();

  it('appends the entry of a create only when the request was inserted, naming its id', async () => {
    const agent = await makeAgent(store);
    const customer = await makeCustomer(store);
    const first = await store.callRequests.create(newRequest(agent.id, customer.id), (id) => [
      entry(`call_request:${id}`, 'created'),
      entry(`call_request:${id}`, 'then notified'),
    ]);
    assert.equal(first.created, true);
    // A second knock on the same pair returns the open request and writes nothing.
    const again = await store.callRequests.create(newRequest(agent.id, customer.id), (id) => [entry(`call_request:${id}`, 'created again')]);
    assert.equal(again.created, false);
    assert.equal(again.request.id, first.request.id);
    const entries = await store.audit.list({ subject: `call_request:${first.request.id}` });
    assert.deepEqual(entries.map((e) => e.reason), ['created', 'then notified'], 'both entries, in their order');
    assert.equal(entries[1]!.seq, entries[0]!.seq + 1, 'one right after the other in the chain');
    assert.equal((await store.audit.verify()).ok, true);
  });

  it('appends the entry of an update only for the writer that won the compare-and-set', async () => {
    const { request, device } = await makeRequest(store, { state: 'notified' });
    const subject = `call_request:${request.id}`;
    const results = await Promise.all([
      store.callRequests.update(request.id, request.version, { ...request, state: 'accepted', acceptedDeviceId: device.id }, entry(subject, 'accept won')),
      store.callRequests.update(request.id, request.version, { ...request, state: 'cancelled', outcome: 'cancelled' }, entry(subject, 'cancel won')),
    ]);
    const winner = results.find((r) => r !== null)!;
    assert.equal(results.filter((r) => r !== null).length, 1);
    const reasons = (await store.audit.list({ subject })).map((e) => e.reason);
    assert.deepEqual(reasons, [winner.state === 'accepted' ? 'accept won' : 'cancel won']);
    // A stale write changes nothing and leaves no entry.
    assert.equal(await store.callRequests.update(request.id, request.version, { ...request, state: 'expired' }, entry(subject, 'stale')), null);
    assert.equal((await store.audit.list({ subject })).length, 1);
  });

  it('keeps the chain verifiable under concurrent audited writes and plain appends', async () => {
    const made = await Promise.all(Array.from({ length: 6 }, () => makeRequest(store, { state: 'notified' })));
    await Promise.all(
      made.flatMap(({ request }) => [
        store.callRequests.update(request.id, request.version, { ...request, state: 'cancelled', outcome: 'cancelled' }, entry(`call_request:${request.id}`, 'cancel')),
        store.audit.append(entry(`call_request:${request.id}`, 'beside')),
      ]),
    );
    const report = await store.audit.verify();
    assert.equal(report.ok, true, report.problem ?? '');
  });
});

describe('store sets up a customer call in one statement: token spent, request moved, both audited', () => {
  const store = useTestStore();
  const setUp = async () => {
    const made = await makeRequest(store, { state: 'authenticated' });
    const jti = `jti-${tag()}`;
    await store.tokens.record({ jti, callRequestId: made.request.id, customerId: made.customer.id, deviceId: made.device.id, expiresAt: new Date(Date.now() + 60_000) });
    return { ...made, jti, subject: `call_request:${made.request.id}` };
  };
  const spend = (s: Awaited<ReturnType<typeof setUp>>, dialogId: string, version = s.request.version, now = new Date()) =>
    store.callRequests.updateSpendingToken(s.request.id, version, { ...s.request, state: 'connecting' }, [entry(s.subject, 'token ok'), entry(s.subject, 'moved')], {
      jti: s.jti,
      dialogId,
      now,
    });

  it('spends the token for the dialog, moves the request and appends the entries in order', async () => {
    const s = await setUp();
    const { spent, after } = await spend(s, 'dialog-1');
    assert.equal(spent, true);
    assert.equal(after?.state, 'connecting');
    assert.equal(after?.version, s.request.version + 1);
    assert.deepEqual(await store.callRequests.get(s.request.id), after);
    const token = await store.tokens.get(s.jti);
    assert.equal(token?.dialogId, 'dialog-1');
    assert.deepEqual((await store.audit.list({ subject: s.subject })).map((e) => e.reason), ['token ok', 'moved']);
    assert.equal((await store.audit.verify()).ok, true);
  });

  it('of two presenters of one token exactly one spends it; the other changes nothing and consume says replayed', async () => {
    const s = await setUp();
    const results = await Promise.all([spend(s, 'dialog-a'), spend(s, 'dialog-b')]);
    assert.deepEqual(results.map((r) => r.spent).sort(), [false, true]);
    assert.equal(results.filter((r) => r.after !== null).length, 1);
    assert.equal((await store.audit.list({ subject: s.subject })).length, 2, 'one pair of entries');
    assert.equal(await store.tokens.consume(s.jti, 'dialog-c', new Date()), 'replayed');
  });

  it('spends the token but moves nothing when the request changed since it was read', async () => {
    const s = await setUp();
    const moved = await store.callRequests.update(s.request.id, s.request.version, { ...s.request, state: 'cancelled', outcome: 'cancelled' });
    const { spent, after } = await spend(s, 'dialog-1');
    assert.equal(spent, true);
    assert.equal(after, null);
    assert.deepEqual(await store.callRequests.get(s.request.id), moved);
    assert.equal((await store.audit.list({ subject: s.subject })).length, 0);
    assert.equal((await store.tokens.get(s.jti))?.dialogId, 'dialog-1');
  });

  it('neither spends an expired token nor moves the request', async () => {
    const s = await setUp();
    const { spent, after } = await spend(s, 'dialog-1', s.request.version, new Date(Date.now() + 120_000));
    assert.deepEqual({ spent, after }, { spent: false, after: null });
    assert.deepEqual(await store.callRequests.get(s.request.id), s.request);
    assert.equal((await store.tokens.get(s.jti))?.consumedAt, null);
  });
});

describe('store holds a request for a device and issues its challenge in one statement', () => {
  const store = useTestStore();
  const challengeFor = (requestId: string, deviceId: string) => ({
    id: crypto.randomUUID(),
    deviceId,
    callRequestId: requestId,
    purpose: 'accept' as const,
    value: `challenge-${tag()}`,
    expiresAt: new Date(Date.now() + 60_000),
  });

  it('stores the challenge, the move and its entry when the compare-and-set wins', async () => {
    const { request, device } = await makeRequest(store, { state: 'notified' });
    const subject = `call_request:${request.id}`;
    const challenge = challengeFor(request.id, device.id);
    const after = await store.callRequests.updateIssuingChallenge(request.id, request.version, { ...request, state: 'accepted', acceptedDeviceId: device.id }, entry(subject, 'accepted'), challenge);
    assert.equal(after?.state, 'accepted');
    assert.deepEqual(await store.callRequests.get(request.id), after);
    assert.deepEqual((await store.audit.list({ subject })).map((e) => e.reason), ['accepted']);
    const used = await store.challenges.consume(challenge.id, device.id, new Date());
    assert.equal(used?.value, challenge.value, 'the device can answer it');
    assert.equal(used?.callRequestId, request.id);
  });

  it('stores neither challenge nor entry for the writer that lost', async () => {
    const { request, device } = await makeRequest(store, { state: 'notified' });
    const subject = `call_request:${request.id}`;
    const cancelled = await store.callRequests.update(request.id, request.version, { ...request, state: 'cancelled', outcome: 'cancelled' });
    const challenge = challengeFor(request.id, device.id);
    const stale = await store.callRequests.updateIssuingChallenge(request.id, request.version, { ...request, state: 'accepted', acceptedDeviceId: device.id }, entry(subject, 'accepted'), challenge);
    assert.equal(stale, null);
    assert.deepEqual(await store.callRequests.get(request.id), cancelled);
    assert.equal((await store.audit.list({ subject })).length, 0);
    assert.equal(await store.challenges.consume(challenge.id, device.id, new Date()), null, 'no challenge to answer');
  });
});

describe('store reads what a knock needs in one go', () => {
  const store = useTestStore();

  it('reads a customer with their devices that are not revoked, oldest first', async () => {
    const customer = await makeCustomer(store);
    assert.deepEqual(await store.customers.getWithDevices(customer.id), { customer, devices: [] });
    const a = await makeDevice(store, customer.id);
    const b = await makeDevice(store, customer.id);
    const gone = await makeDevice(store, customer.id);
    await store.devices.revoke(gone.id, new Date());
    const found = await store.customers.getWithDevices(customer.id);
    assert.deepEqual(found?.customer, customer);
    assert.deepEqual(found?.devices, await store.devices.listForCustomer(customer.id));
    assert.deepEqual(found?.devices.map((d) => d.id), [a.id, b.id]);
    assert.equal(await store.customers.getWithDevices('00000000-0000-4000-8000-000000000000'), null);
    assert.equal(await store.customers.getWithDevices('not-a-uuid'), null);
  });

  it('reads the agent of a sign-in only while it is unexpired and not removed', async () => {
    const agent = await makeAgent(store);
    const token = sha256Hex(`login-${tag()}`);
    const now = new Date();
    await store.agentLogins.create(token, agent.id, new Date(now.getTime() + 60_000));
    assert.deepEqual(await store.agentLogins.getAgent(token, now), await store.agents.get(agent.id));
    assert.equal(await store.agentLogins.getAgent(token, new Date(now.getTime() + 61_000)), null, 'expired');
    assert.equal(await store.agentLogins.getAgent(sha256Hex('unknown'), now), null, 'unknown');
    await store.agentLogins.remove(token);
    assert.equal(await store.agentLogins.getAgent(token, now), null, 'signed out');
  });
});
