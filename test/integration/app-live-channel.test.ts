/**
 * An open app is reachable: a device without Web Push, whose app holds its live event stream
 * open, gets the knock down that stream and counts as reached; the agent is told which channel
 * reached the customer. Presence is kept in PostgreSQL with the process that holds the stream.
 */
import assert from 'node:assert/strict';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';
import { openStream } from '../support/sse-stream.js';


describe('the open app as a channel', function () {
  this.timeout(60_000);
  let t: TestService;
  let agentToken: string;

  before(async () => {
    // SMS off: nothing but the open app (or push) can reach these customers.
    t = await startTestService({ KNOCK_NOTIFY__SMS__ENABLED: 'false' });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'care', name: 'Care', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'zoe', name: 'Zoe Adams', extension: '2001', password: 'zoe-password-1', groups: ['care'] });
    agentToken = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'zoe', password: 'zoe-password-1' } })).body.token;
  });

  after(async () => {
    await t?.stop();
  });

  let n = 0;
  async function customerWithDevice(opts: { push: boolean }) {
    const deps = t.service.deps;
    const c = await createCustomer(deps, { name: `Live App ${++n}`, phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(deps, c.id, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    const sub = opts.push ? t.push.createSubscription() : null;
    if (sub) await setPushSubscription(deps, enrolled.device, sub.subscription);
    return { id: c.id, deviceId: enrolled.device.id, credential: enrolled.credential, pushes: () => (sub?.payloads() ?? []) as any[] };
  }
  const knock = (customerId: string, reference: string) =>
    t.call('POST', '/api/v1/call-requests', { token: agentToken, body: { customerId, reason: 'Card check', reference } });
  const presence = (customerId: string) => t.service.deps.store.appStreams.live(customerId, 30);

  it('reaches a device without push while its app is open, and says so to the agent', async () => {
    const c = await customerWithDevice({ push: false });
    // Closed app, no push, no SMS: unreachable, as before.
    const closed = await knock(c.id, 'LIVE-0');
    assert.equal(closed.status, 422, closed.text);
    assert.equal(closed.body.code, 'no_reachable_device');

    const stream = openStream(`${t.url}/api/v1/app/events`, c.credential);
    await waitFor('the stream is open and recorded', async () => stream.isConnected() && (await presence(c.id)).length === 1);
    const [row] = await presence(c.id);
    assert.equal(row!.deviceId, c.deviceId);

    const res = await knock(c.id, 'LIVE-1');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.reachedBy, ['app']);
    const shown = await waitFor('the knock in the open app', () => stream.frames.find((e) => e.type === 'notification'));
    assert.equal(shown.data.kind, 'knock');
    assert.equal(shown.data.callRequestId, res.body.id);
    assert.equal(shown.data.reference, 'LIVE-1');
    assert.equal(shown.data.agentName, 'Zoe Adams');
    assert.deepEqual(shown.data.actions, { accept: true, schedule: true, snooze: true });
    // The console's view of the request names the channel.
    const view = await t.call('GET', `/api/v1/call-requests/${res.body.id}`, { token: agentToken });
    assert.deepEqual(view.body.notifications.map((x: any) => [x.channel, x.status]), [['app', 'sent']]);

    // The app closes: its presence goes, and it is no longer counted as reached.
    await t.call('POST', `/api/v1/call-requests/${res.body.id}/cancel`, { token: agentToken });
    await stream.close();
    await waitFor('the presence removed', async () => (await presence(c.id)).length === 0);
    const after = await knock(c.id, 'LIVE-2');
    assert.equal(after.status, 422, after.text);
  });

  it('still pushes a subscribed device whose app is open (it may be a background tab)', async () => {
    const c = await customerWithDevice({ push: true });
    const stream = openStream(`${t.url}/api/v1/app/events`, c.credential);
    await waitFor('the stream is open', () => stream.isConnected());
    try {
      const res = await knock(c.id, 'LIVE-3');
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.body.reachedBy, ['app', 'webpush']);
      const inApp = await waitFor('the knock in the open app', () => stream.frames.find((e) => e.type === 'notification'));
      const pushed = await waitFor('the push', () => c.pushes().find((p) => p.callRequestId === res.body.id));
      assert.equal(pushed.kind, 'knock');
      assert.notEqual(inApp.data.notificationId, pushed.notificationId, 'one record per channel');
      await t.call('POST', `/api/v1/call-requests/${res.body.id}/cancel`, { token: agentToken });
    } finally {
      await stream.close();
    }
    // Closed again: the push is the channel.
    const pushed = await knock(c.id, 'LIVE-4');
    assert.equal(pushed.status, 201, pushed.text);
    assert.deepEqual(pushed.body.reachedBy, ['webpush']);
    await t.call('POST', `/api/v1/call-requests/${pushed.body.id}/cancel`, { token: agentToken });
  });

  it('tells the agent when the app is open on another process it cannot reach', async () => {
    const c = await customerWithDevice({ push: false });
    // A stream held by another (live) process, as its presence row shows it.
    await t.service.deps.store.appStreams.open({ id: '5d0c3b5e-8f0e-4a8e-9a53-0b5e2b0f6a11', deviceId: c.deviceId, customerId: c.id, owner: 'another-process' });
    const res = await knock(c.id, 'LIVE-5');
    assert.equal(res.status, 422, res.text);
    assert.match(res.body.detail, /connected to another server process/);
  });
});
