/**
 * Time passing for real: the answer limit expires through the job runner, and a scheduled
 * callback fires exactly once while two service instances share one database.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import { startService, type RunningService } from '../../src/service.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

describe('timed steps run by the job runner', function () {
  this.timeout(60_000);
  let t: TestService;
  let second: RunningService;
  let agentToken: string;
  let deviceCredential: string;
  let customerId: string;
  let pushPayloads: () => any[];

  before(async () => {
    t = await startTestService({ KNOCK_REQUESTS__ANSWER_TIME_LIMIT_SECONDS: '2' });
    // A second instance on the same database: both run jobs.
    second = await startService(t.config, { logger: pino({ level: 'silent' }), instanceName: 'second', listen: false });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'care', name: 'Care', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: 1, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'zoe', name: 'Zoe Adams', extension: '2001', password: 'zoe-password-1', groups: ['care'] });
    const customer = await createCustomer(deps, { name: 'Finn Customer', phone: null, timeZone: 'UTC', externalRef: null });
    customerId = customer.id;
    const { code } = await issueEnrollmentCode(deps, customerId, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    deviceCredential = enrolled.credential;
    const sub = t.push.createSubscription();
    await setPushSubscription(deps, enrolled.device, sub.subscription);
    pushPayloads = () => sub.payloads() as any[];
    agentToken = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'zoe', password: 'zoe-password-1' } })).body.token;
  });

  after(async () => {
    await second?.stop();
    await t?.stop();
  });

  it('expires an unanswered knock: schedule-only notification replaces the first, accept is refused', async () => {
    const res = await t.call('POST', '/api/v1/call-requests', { token: agentToken, body: { customerId, reason: 'Overdue invoice', reference: 'INV-77' } });
    assert.equal(res.status, 201, res.text);
    const knock = await waitFor('knock push', () => pushPayloads().find((p) => p.callRequestId === res.body.id && p.kind === 'knock'));
    const expired = await waitFor('expired push', () => pushPayloads().find((p) => p.callRequestId === res.body.id && p.kind === 'expired'));
    assert.equal(expired.replaces, knock.notificationId);
    assert.deepEqual(expired.actions, { accept: false, schedule: true, snooze: false });

    const view = await t.call('GET', `/api/v1/call-requests/${res.body.id}`, { token: agentToken });
    assert.equal(view.body.state, 'expired');
    const late = await t.call('POST', `/api/v1/app/requests/${res.body.id}/accept`, { token: deviceCredential });
    assert.equal(late.status, 410);
    assert.equal(late.body.code, 'request_expired');
  });

  it('fires a scheduled callback once with two instances, and prompts the customer', async () => {
    const [req] = await t.service.deps.store.callRequests.list({ customerId, states: ['expired'] });
    assert.ok(req);
    const at = new Date(Date.now() + 2_000);
    const scheduled = await t.call('POST', `/api/v1/app/requests/${req.id}/schedule`, { token: deviceCredential, body: { at: at.toISOString() } });
    assert.equal(scheduled.status, 200, scheduled.text);

    const prompt = await waitFor('callback prompt', () => pushPayloads().find((p) => p.callRequestId === req.id && p.kind === 'callback_prompt'));
    assert.equal(prompt.actions.accept, true);
    // Give a second firing every chance to happen before counting.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(pushPayloads().filter((p) => p.callRequestId === req.id && p.kind === 'callback_prompt').length, 1);
    const view = await t.call('GET', `/api/v1/call-requests/${req.id}`, { token: agentToken });
    assert.equal(view.body.state, 'prompted');
    const dueDecisions = (await t.service.deps.store.audit.list({ subject: `call_request:${req.id}` })).filter((e) => e.action === 'request.callback_due');
    assert.equal(dueDecisions.filter((e) => e.decision === 'allow').length, 1);
  });

  it('refuses a full slot and offers alternatives', async () => {
    const other = await createCustomer(t.service.deps, { name: 'Gil Other', phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(t.service.deps, other.id, 'test');
    const enrolled = await enrollDevice(t.service.deps, { code, label: 'p', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    await setPushSubscription(t.service.deps, enrolled.device, t.push.createSubscription().subscription);
    const slot = new Date(Math.ceil((Date.now() + 2 * 3_600_000) / 1_800_000) * 1_800_000 + 60_000);

    // The prompted callback of the test before is still open for this customer and agent: a new
    // knock would be refused (409 request_already_open) until it is cancelled.
    for (const open of await t.service.deps.store.callRequests.list({ customerId, states: ['prompted'] })) {
      await t.call('POST', `/api/v1/call-requests/${open.id}/cancel`, { token: agentToken });
    }
    const a = await t.call('POST', '/api/v1/call-requests', { token: agentToken, body: { customerId, reason: 'r', reference: 'SLOT-1' } });
    assert.equal(a.status, 201, a.text);
    const first = await t.call('POST', `/api/v1/app/requests/${a.body.id}/schedule`, { token: deviceCredential, body: { at: slot.toISOString() } });
    assert.equal(first.status, 200, first.text);

    const b = await t.call('POST', '/api/v1/call-requests', { token: agentToken, body: { customerId: other.id, reason: 'r', reference: 'SLOT-2' } });
    const full = await t.call('POST', `/api/v1/app/requests/${b.body.id}/schedule`, { token: enrolled.credential, body: { at: slot.toISOString() } });
    assert.equal(full.status, 409, full.text);
    assert.equal(full.body.code, 'slot_full');
    assert.ok(full.body.alternatives.length > 0);
    assert.ok(full.body.alternatives.every((x: string) => new Date(x) > slot));
  });
});
