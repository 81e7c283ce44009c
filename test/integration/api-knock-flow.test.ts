/**
 * The whole "knock before calling" flow through the HTTP API, against real PostgreSQL, with the
 * push service and Twilio replaced by local servers that speak their APIs.
 */
import assert from 'node:assert/strict';
import { admitCustomerCall, callConnected, callEnded, verifySessionForTransfer } from '../../src/flows/call-session.js';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { deviceProofFor, enrolPhone, type EnrolledPhone } from '../support/verified-customer.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

const PIN = '482916';

describe('knock before calling, through the HTTP API', function () {
  this.timeout(60_000);
  let t: TestService;
  let anna: string; // agent token
  let ben: string;
  let admin: string;
  let customerId: string;
  let phone: EnrolledPhone;

  async function login(username: string, password: string): Promise<string> {
    const res = await t.call('POST', '/api/v1/auth/login', { body: { username, password } });
    assert.equal(res.status, 200, res.text);
    return res.body.token;
  }

  async function knock(token: string, reference: string, headers: Record<string, string> = {}) {
    const res = await t.call('POST', '/api/v1/call-requests', {
      token,
      headers,
      body: { customerId, reason: 'Suspicious card payment', reference },
    });
    assert.ok(res.status === 201 || res.status === 200, res.text);
    return res;
  }

  before(async () => {
    t = await startTestService({ KNOCK_REQUESTS__REMIND_CHOICES_MINUTES: '0.05,30,60' });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'fraud', name: 'Fraud team', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'admin', name: 'Admin', extension: '1000', password: 'admin-password-1', groups: [], role: 'admin' });
    await createAgent(deps, { username: 'anna', name: 'Anna Smith', extension: '1001', password: 'anna-password-1', groups: ['fraud'] });
    await createAgent(deps, { username: 'ben', name: 'Ben Jones', extension: '1002', password: 'ben-password-11', groups: ['fraud'] });
    admin = await login('admin', 'admin-password-1');
    anna = await login('anna', 'anna-password-1');
    ben = await login('ben', 'ben-password-11');
    const created = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Chris Customer', phone: '+447700900123', timeZone: 'Europe/London' } });
    assert.equal(created.status, 201, created.text);
    customerId = created.body.id;
    phone = await enrolPhone(t, anna, customerId, PIN);
  });

  after(async () => {
    await t?.stop();
  });

  it('answers health, readiness and the OpenAPI description', async () => {
    assert.equal((await t.call('GET', '/healthz')).status, 200);
    const ready = await t.call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.components.database, 'up');
    const doc = await t.call('GET', '/api/openapi.json');
    assert.equal(doc.body.openapi, '3.1.0');
    const jwks = await t.call('GET', '/.well-known/jwks.json');
    assert.equal(jwks.body.keys[0].alg, 'ES256');
  });

  it('knocks, accepts with the biometric, and the token admits one call only', async () => {
    const first = await knock(anna, 'CASE-1001', { 'Idempotency-Key': 'k-1001' });
    assert.equal(first.status, 201);
    assert.equal(first.body.state, 'notified');
    const again = await knock(anna, 'CASE-1001', { 'Idempotency-Key': 'k-1001' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id);
    const id = first.body.id as string;

    const payload = (await waitFor('the knock push', () => phone.push.payloads().at(-1))) as any;
    assert.equal(payload.agentName, 'Anna Smith');
    assert.equal(payload.reference, 'CASE-1001');
    assert.equal(payload.reason, 'Suspicious card payment');
    assert.deepEqual(payload.actions, { accept: true, schedule: true, snooze: true });

    const seen = await t.call('GET', `/api/v1/app/requests/${id}`, { token: phone.credential });
    assert.equal(seen.body.agentName, 'Anna Smith');

    const challenge = await t.call('POST', `/api/v1/app/requests/${id}/accept`, { token: phone.credential });
    assert.equal(challenge.status, 200, challenge.text);
    assert.deepEqual(challenge.body.methods, ['biometric', 'pin']);
    const assertion = phone.authenticator.assert(challenge.body.webauthn);
    const issued = await t.call('POST', `/api/v1/app/requests/${id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: challenge.body.challengeId, method: 'biometric', webauthn: assertion },
    });
    assert.equal(issued.status, 200, issued.text);
    assert.equal(issued.body.authMethod, 'biometric');
    assert.match(issued.body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(new Date(issued.body.expiresAt).getTime() - Date.now() <= 120_000);

    const deps = t.service.deps;
    // The app's INVITE: the token plus its device key's proof for this Call-ID and From tag.
    const invite = (callId: string, fromTag: string) => ({
      token: issued.body.token as string,
      dialogId: `${callId};from-tag=${fromTag}`,
      callId,
      fromTag,
      deviceProof: deviceProofFor(phone.key, issued.body.token, callId, fromTag),
    });
    const admitted = await admitCustomerCall(deps, invite('call-1', 'a'));
    assert.equal(admitted.request.id, id);
    assert.equal(admitted.authMethod, 'biometric');
    await assert.rejects(admitCustomerCall(deps, invite('call-2', 'b')), { code: 'token_replayed' });

    const agentView = await t.call('GET', `/api/v1/call-requests/${id}`, { token: anna });
    assert.equal(agentView.body.state, 'connecting');
    assert.equal(agentView.body.verification.method, 'biometric');

    // The agent answers, transfers to Ben with the session id, hangs up: the session dies.
    const annaId = (await t.call('GET', '/api/v1/me', { token: anna })).body.id;
    const benId = (await t.call('GET', '/api/v1/me', { token: ben })).body.id;
    const { session, record } = await callConnected(deps, { requestId: id, sessionId: 'sess-call-1', agentId: annaId, direction: 'inbound' });
    assert.equal((await verifySessionForTransfer(deps, session.id, benId)).customerId, customerId);
    await callEnded(deps, { requestId: id, sessionId: session.id, recordId: record.id, agentId: benId, outcome: 'completed' });
    await assert.rejects(verifySessionForTransfer(deps, session.id, benId), { code: 'session_revoked' });
    assert.equal((await t.call('GET', `/api/v1/call-requests/${id}`, { token: anna })).body.state, 'ended');

    const audit = await t.call('GET', '/api/v1/audit/verify', { token: admin });
    assert.equal(audit.body.ok, true);
    const decisions = await deps.store.audit.list({ subject: `dialog:call-2;from-tag=b` });
    assert.equal(decisions[0]?.decision, 'deny');
  });

  it('refuses an accept without, or with a wrong, proof; the right PIN then works', async () => {
    const { body: req } = await knock(anna, 'CASE-2002');
    const accept = () => t.call('POST', `/api/v1/app/requests/${req.id}/accept`, { token: phone.credential });

    const c1 = await accept();
    const missing = await t.call('POST', `/api/v1/app/requests/${req.id}/authenticate`, { token: phone.credential, body: { challengeId: c1.body.challengeId, method: 'pin' } });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.code, 'validation_failed');

    const wrongPin = await t.call('POST', `/api/v1/app/requests/${req.id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: c1.body.challengeId, method: 'pin', pin: '000111', signature: phone.key.sign(c1.body.challenge) },
    });
    assert.equal(wrongPin.status, 403, wrongPin.text);
    assert.equal(wrongPin.body.code, 'auth_failed');

    const reused = await t.call('POST', `/api/v1/app/requests/${req.id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: c1.body.challengeId, method: 'pin', pin: PIN, signature: phone.key.sign(c1.body.challenge) },
    });
    assert.equal(reused.body.code, 'challenge_invalid');

    const c2 = await accept();
    const otherKey = new SoftDeviceKey();
    const forged = await t.call('POST', `/api/v1/app/requests/${req.id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: c2.body.challengeId, method: 'pin', pin: PIN, signature: otherKey.sign(c2.body.challenge) },
    });
    assert.equal(forged.status, 403);

    const c3 = await accept();
    const good = await t.call('POST', `/api/v1/app/requests/${req.id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: c3.body.challengeId, method: 'pin', pin: PIN, signature: phone.key.sign(c3.body.challenge) },
    });
    assert.equal(good.status, 200, good.text);
    assert.equal(good.body.authMethod, 'pin');
    assert.equal((await t.call('GET', `/api/v1/call-requests/${req.id}`, { token: anna })).body.state, 'authenticated');
    assert.equal((await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna })).body.state, 'cancelled');
  });

  it('refuses a late accept after expiry while scheduling still works, with a calendar entry', async () => {
    const { body: req } = await knock(anna, 'CASE-3003');
    t.advance(t.config.requests.answerTimeLimitSeconds * 1000 + 1000);
    try {
      const late = await t.call('POST', `/api/v1/app/requests/${req.id}/accept`, { token: phone.credential });
      assert.equal(late.status, 410, late.text);
      assert.equal(late.body.code, 'request_expired');
      assert.match(late.body.detail, /schedule/);

      const past = await t.call('POST', `/api/v1/app/requests/${req.id}/schedule`, { token: phone.credential, body: { at: new Date(Date.now() - 60_000).toISOString() } });
      assert.equal(past.body.code, 'in_the_past');

      const at = new Date(Date.now() + t.config.requests.answerTimeLimitSeconds * 1000 + 3 * 3_600_000);
      const scheduled = await t.call('POST', `/api/v1/app/requests/${req.id}/schedule`, { token: phone.credential, body: { at: at.toISOString(), note: 'weekdays after 6' } });
      assert.equal(scheduled.status, 200, scheduled.text);
      assert.equal(scheduled.body.state, 'scheduled');
      assert.equal(new Date(scheduled.body.scheduledFor).getTime(), at.getTime());

      const ics = await t.call('GET', scheduled.body.calendar, { token: phone.credential });
      assert.equal(ics.status, 200);
      assert.match(ics.headers.get('content-type') ?? '', /text\/calendar/);
      assert.match(ics.text, /BEGIN:VEVENT/);
      // Unfolded (RFC 5545 §3.1); the group's mode is customer_calls, so the customer calls.
      const unfolded = ics.text.replace(/\r\n[ \t]/g, '');
      assert.match(unfolded, /SUMMARY:Call Anna Smith \(CASE-3003\)/);
      assert.match(unfolded, /weekdays after 6/);

      const callbacks = await t.call('GET', '/api/v1/callbacks', { token: anna });
      assert.ok(callbacks.body.items.some((c: any) => c.id === req.id && c.scheduleNote === 'weekdays after 6'));
      await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });
    } finally {
      t.advance(-(t.config.requests.answerTimeLimitSeconds * 1000 + 1000));
    }
  });

  it('snoozes and the notification comes back after the chosen delay', async () => {
    const { body: req } = await knock(ben, 'CASE-4004');
    const before = phone.push.payloads().length;
    const refused = await t.call('POST', `/api/v1/app/requests/${req.id}/snooze`, { token: phone.credential, body: { minutes: 7 } });
    assert.equal(refused.body.code, 'validation_failed');
    const snoozed = await t.call('POST', `/api/v1/app/requests/${req.id}/snooze`, { token: phone.credential, body: { minutes: 0.05 } });
    assert.equal(snoozed.status, 200, snoozed.text);
    assert.equal(snoozed.body.state, 'snoozed');
    const reminder = (await waitFor('the reminder push', () => phone.push.payloads().slice(before).find((p: any) => p.kind === 'reminder'))) as any;
    assert.equal(reminder.reference, 'CASE-4004');
    assert.equal(reminder.actions.accept, true);
    assert.equal((await t.call('GET', `/api/v1/call-requests/${req.id}`, { token: ben })).body.state, 'notified');
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: ben });
  });

  it('answers bad payloads with problem details and stores nothing', async () => {
    const count = async () => (await t.service.deps.store.callRequests.list({ customerId })).length;
    const n = await count();
    const noReason = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reference: 'X-1' } });
    assert.equal(noReason.status, 400);
    assert.equal(noReason.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(noReason.body.code, 'validation_failed');
    assert.match(noReason.body.detail, /reason/);
    const badJson = await t.call('POST', '/api/v1/call-requests', { token: anna, rawBody: '{"customerId":', headers: { 'content-type': 'application/json' } });
    assert.equal(badJson.status, 400);
    assert.match(badJson.body.detail, /not valid JSON/);
    const extra = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reason: 'r', reference: 'X-2', priority: 99 } });
    assert.equal(extra.status, 400);
    assert.match(extra.body.detail, /priority/);
    const unknown = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId: '00000000-0000-4000-8000-000000000000', reason: 'r', reference: 'X-3' } });
    assert.equal(unknown.status, 404);
    const anonymous = await t.call('POST', '/api/v1/call-requests', { body: { customerId, reason: 'r', reference: 'X-4' } });
    assert.equal(anonymous.status, 401);
    const badPhone = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'X', phone: '0123' } });
    assert.equal(badPhone.status, 400);
    assert.match(badPhone.body.detail, /E\.164/);
    const agentNotAdmin = await t.call('POST', '/api/v1/customers', { token: anna, body: { name: 'X' } });
    assert.equal(agentNotAdmin.status, 403);
    assert.equal(await count(), n);
  });

  it('falls back to SMS with a link when no device can be reached', async () => {
    const created = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Dana NoApp', phone: '+447700900456' } });
    const res = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId: created.body.id, reason: 'Card renewal', reference: 'CASE-5005' } });
    assert.equal(res.status, 201, res.text);
    const sms = await waitFor('the SMS', () => t.twilio.messages.find((m) => m.to === '+447700900456'));
    assert.match(sms.body, /CASE-5005/);
    assert.ok(sms.body.includes(`${t.config.server.publicUrl}/app/#/requests/${res.body.id}`));
  });

  it('tells the agent when the customer cannot be reached at all', async () => {
    const created = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Eve Unreachable' } });
    const res = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId: created.body.id, reason: 'r', reference: 'CASE-6006' } });
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'no_reachable_device');
    const list = await t.service.deps.store.callRequests.list({ customerId: created.body.id });
    assert.equal(list[0]?.state, 'cancelled');
    assert.equal(list[0]?.outcome, 'unreachable');
  });

  it('exposes metrics on the metrics listener, each route under one name whatever the answer', async () => {
    const m = { text: await (await fetch(`${t.service.metricsUrl}/metrics`)).text() };
    assert.match(m.text, /knock_call_request_transitions_total\{state="notified"\} \d+/);
    // The knock answered 201 and 422 above: both under the document's path.
    assert.match(m.text, /knock_http_requests_total\{method="POST",route="\/api\/v1\/call-requests",status="201"\} \d+/);
    assert.match(m.text, /knock_http_requests_total\{method="POST",route="\/api\/v1\/call-requests",status="422"\} \d+/);
    assert.doesNotMatch(m.text, /route="\/call-requests"/);
    assert.match(m.text, /knock_http_requests_total\{method="GET",route="\/api\/v1\/call-requests\/\{id\}",status="200"\} \d+/);
  });
});
