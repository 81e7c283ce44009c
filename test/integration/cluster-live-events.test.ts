/**
 * Two instances on one database: a console streaming from instance A sees what happens through
 * instance B, in order and once; a stream that reconnects with Last-Event-ID (to either
 * instance) gets exactly what it missed; the app's stream likewise.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import { startService, type RunningService } from '../../src/service.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';
import { openStream } from '../support/sse-stream.js';


describe('live events across two instances', function () {
  this.timeout(60_000);
  let t: TestService;
  let b: RunningService;
  let token: string;
  let customer: { id: string; credential: string };

  const call = async (base: string, method: string, path: string, auth: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const knockOn = async (base: string, reference: string) => {
    const res = await call(base, 'POST', '/api/v1/call-requests', token, { customerId: customer.id, reason: 'Card check', reference });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  };

  before(async () => {
    t = await startTestService();
    // Instance B: the same configuration and database, its own HTTP port and process identity.
    b = await startService(t.config, { logger: pino({ level: 'silent' }), instanceName: 'b' });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'care', name: 'Care', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'una', name: 'Una Price', extension: '2101', password: 'una-password-1', groups: ['care'] });
    token = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'una', password: 'una-password-1' } })).body.token;
    const c = await createCustomer(deps, { name: 'Cluster Customer', phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(deps, c.id, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    await setPushSubscription(deps, enrolled.device, t.push.createSubscription().subscription);
    customer = { id: c.id, credential: enrolled.credential };
  });

  after(async () => {
    await b?.stop();
    await t?.stop();
  });

  it('shows a console on A a request knocked and accepted through B, in order, once each', async () => {
    const console = openStream(`${t.url}/api/v1/events`, token);
    const app = openStream(`${t.url}/api/v1/app/events`, customer.credential);
    await waitFor('both streams open', () => console.isConnected() && app.isConnected());

    const id = await knockOn(b.url!, 'CL-1');
    const accepted = await call(b.url!, 'POST', `/api/v1/app/requests/${id}/accept`, customer.credential, {});
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));

    await waitFor('the accept on A’s console', () => console.states(id).includes('accepted'));
    await waitFor('the accept in the app’s stream on A', () => app.states(id).includes('accepted'));
    assert.deepEqual(console.states(id), ['notified', 'accepted']);
    assert.deepEqual(app.states(id), ['notified', 'accepted']);
    const ids = console.frames.map((f) => f.id!);
    assert.ok(ids.every((n, i) => Number.isInteger(n) && (i === 0 || n > ids[i - 1]!)), `ids rise: ${ids.join(',')}`);
    assert.equal(new Set(ids).size, ids.length);
    await console.close();
    await app.close();
    assert.equal((await call(t.url, 'POST', `/api/v1/call-requests/${id}/cancel`, token)).status, 200);
  });

  it('resumes a stream after Last-Event-ID on either instance with exactly what it missed', async () => {
    const first = openStream(`${t.url}/api/v1/events`, token);
    await waitFor('the stream open', () => first.isConnected());
    const one = await knockOn(b.url!, 'CL-2');
    await waitFor('the knock seen', () => first.states(one).includes('notified'));
    const last = first.frames.at(-1)!.id!;
    await first.close();

    // While the console is away: changes through both instances.
    assert.equal((await call(t.url, 'POST', `/api/v1/call-requests/${one}/cancel`, token)).status, 200);
    const two = await knockOn(t.url, 'CL-3');
    assert.equal((await call(b.url!, 'POST', `/api/v1/app/requests/${two}/accept`, customer.credential, {})).status, 200);

    for (const base of [t.url, b.url!]) {
      const again = openStream(`${base}/api/v1/events`, token, last);
      await waitFor(`the missed events from ${base === t.url ? 'A' : 'B'}`, () => again.states(two).includes('accepted'));
      const missed = again.frames.map((f) => [f.data.requestId, f.data.state]);
      assert.deepEqual(missed, [
        [one, 'cancelled'],
        [two, 'notified'],
        [two, 'accepted'],
      ]);
      assert.ok(again.frames.every((f) => f.id! > last));
      // And it goes on live.
      await again.close();
    }
    assert.equal((await call(t.url, 'POST', `/api/v1/call-requests/${two}/cancel`, token)).status, 200);
  });

  it('refuses a Last-Event-ID it never sent', async () => {
    const res = await fetch(`${t.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': 'abc' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as any;
    assert.equal(body.code, 'validation_failed');
    assert.match(body.detail, /Last-Event-ID/);
  });
});
