/**
 * The rest of the core service as users meet it: integrations with scoped API keys, the admin
 * directory, the console's live events, racing answers, agent-dialled callbacks with
 * reassignment and retries, missed windows, and logs free of secrets.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { beginAccept } from '../../src/flows/accept.js';
import { callbackAttemptFailed } from '../../src/flows/call-session.js';
import { createAgent, createCustomer, saveGroup, setAgentAvailability } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import type { LiveEvent } from '../../src/flows/ports.js';
import { scheduleCallback } from '../../src/flows/schedule.js';
import { callbackDue, expireUnansweredRequest } from '../../src/flows/timed-steps.js';
import { requestCall } from '../../src/flows/knock.js';
import type { Agent, Device } from '../../src/domain/model.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PIN = '482916';

describe('directory, live events, races and callbacks', function () {
  this.timeout(60_000);
  let t: TestService;
  let adminToken: string;
  let owner: Agent;
  let colleague: Agent;
  const secrets: string[] = [PIN];

  async function customerWithDevices(name: string, count = 1): Promise<{ customerId: string; devices: Array<{ device: Device; credential: string; key: SoftDeviceKey }> }> {
    const deps = t.service.deps;
    const customer = await createCustomer(deps, { name, phone: null, timeZone: 'UTC', externalRef: null });
    const devices = [];
    for (let i = 0; i < count; i++) {
      const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
      secrets.push(code);
      const key = new SoftDeviceKey();
      const enrolled = await enrollDevice(deps, { code, label: `phone ${i}`, publicKeyJwk: key.publicJwk, pin: PIN });
      secrets.push(enrolled.credential);
      await setPushSubscription(deps, enrolled.device, t.push.createSubscription().subscription);
      devices.push({ ...enrolled, key });
    }
    return { customerId: customer.id, devices };
  }

  before(async () => {
    t = await startTestService();
    const deps = t.service.deps;
    const hours = deps.config.scheduling.businessHours;
    await saveGroup(deps, { id: 'loans', name: 'Loans', timeZone: 'UTC', businessHours: hours, slotCapacity: null, slotMinutes: 30, callbackMode: 'agent_calls' });
    await createAgent(deps, { username: 'root', name: 'Root Admin', extension: '3000', password: 'root-password-1', groups: [], role: 'admin' });
    owner = await createAgent(deps, { username: 'olga', name: 'Olga Owner', extension: '3001', password: 'olga-password-1', groups: ['loans'] });
    colleague = await createAgent(deps, { username: 'carl', name: 'Carl Colleague', extension: '3002', password: 'carl-password-1', groups: ['loans'] });
    const login = await t.call('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'root-password-1' } });
    adminToken = login.body.token;
    secrets.push(adminToken, 'root-password-1');
  });

  after(async () => {
    await t?.stop();
  });

  it('lets an admin create an agent with a SIP extension; only HA1 is kept', async () => {
    const res = await t.call('POST', '/api/v1/agents', {
      token: adminToken,
      body: { username: 'dave', name: 'Dave Desk', extension: '3003', password: 'dave-password-1', groups: ['loans'] },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.extension, '3003');
    assert.equal(res.body.password, undefined);
    const stored = await t.service.deps.store.agents.secrets(res.body.id);
    assert.match(stored!.sipHa1, /^[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(stored).includes('dave-password-1'));
    const dup = await t.call('POST', '/api/v1/agents', { token: adminToken, body: { username: 'dave2', name: 'D', extension: '3003', password: 'dave-password-1' } });
    assert.equal(dup.status, 409);
    assert.match(dup.body.detail, /Extension 3003/);
  });

  it('lets an integration knock with a scoped API key, and refuses a key without the scope', async () => {
    const { customerId } = await customerWithDevices('Ivy Integration');
    const writer = await t.call('POST', '/api/v1/api-keys', { token: adminToken, body: { name: 'crm', scopes: ['requests:write', 'requests:read'] } });
    assert.equal(writer.status, 201, writer.text);
    secrets.push(writer.body.key);
    const reader = await t.call('POST', '/api/v1/api-keys', { token: adminToken, body: { name: 'wallboard', scopes: ['requests:read'] } });
    secrets.push(reader.body.key);

    const body = { customerId, reason: 'Loan offer follow-up', reference: 'LN-42', agentId: owner.id };
    const denied = await t.call('POST', '/api/v1/call-requests', { apiKey: reader.body.key, body });
    assert.equal(denied.status, 403);
    assert.match(denied.body.detail, /requests:write/);
    const created = await t.call('POST', '/api/v1/call-requests', { apiKey: writer.body.key, body });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.agentId, owner.id);
    const noAgent = await t.call('POST', '/api/v1/call-requests', { apiKey: writer.body.key, body: { customerId, reason: 'x', reference: 'LN-43' } });
    assert.equal(noAgent.status, 400);
    const bogus = await t.call('GET', '/api/v1/call-requests', { apiKey: 'knk_not-a-key' });
    assert.equal(bogus.status, 401);
    await t.call('POST', `/api/v1/call-requests/${created.body.id}/cancel`, { apiKey: writer.body.key });
  });

  it('streams request changes to the agent console (SSE)', async () => {
    const { customerId } = await customerWithDevices('Sam Stream');
    const login = await t.call('POST', '/api/v1/auth/login', { body: { username: 'olga', password: 'olga-password-1' } });
    secrets.push(login.body.token);
    const events: string[] = [];
    const req = http.get(`${t.url}/api/v1/events`, { headers: { authorization: `Bearer ${login.body.token}` } });
    const opened = new Promise<http.IncomingMessage>((ok) => req.on('response', ok));
    const res = await opened;
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => events.push(chunk));
    try {
      const knock = await t.call('POST', '/api/v1/call-requests', { token: login.body.token, body: { customerId, reason: 'r', reference: 'SSE-1' } });
      const until = Date.now() + 5000;
      while (!events.join('').includes('"state":"notified"') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const text = events.join('');
      assert.match(text, /event: request\.changed/);
      assert.ok(text.includes(`"requestId":"${knock.body.id}"`));
      assert.ok(text.includes('"state":"notified"'));
      await t.call('POST', `/api/v1/call-requests/${knock.body.id}/cancel`, { token: login.body.token });
    } finally {
      req.destroy();
    }
  });

  it('resolves two devices accepting at once to exactly one accept', async () => {
    const deps = t.service.deps;
    const { customerId, devices } = await customerWithDevices('Tess Twophones', 2);
    const { request } = await requestCall(deps, { agentId: owner.id, customerId, reason: 'r', reference: 'RACE-1', createdBy: 'test' });
    const results = await Promise.allSettled(devices.map((d) => t.call('POST', `/api/v1/app/requests/${request.id}/accept`, { token: d.credential })));
    const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : 0)).sort();
    assert.deepEqual(statuses, [200, 409]);
    await deps.store.callRequests.get(request.id).then((r) => assert.equal(r?.state, 'accepted'));
  });

  it('resolves an accept racing the expiry job to exactly one outcome', async () => {
    const deps = t.service.deps;
    const { customerId, devices } = await customerWithDevices('Rita Racer');
    const { request } = await requestCall(deps, { agentId: colleague.id, customerId, reason: 'r', reference: 'RACE-2', createdBy: 'test' });
    const [accept, expire] = await Promise.allSettled([beginAccept(deps, devices[0]!.device, request.id), expireUnansweredRequest(deps, request.id)]);
    const final = (await deps.store.callRequests.get(request.id))!;
    if (accept.status === 'fulfilled') {
      assert.equal(final.state, 'accepted');
    } else {
      assert.equal((accept.reason as { code: string }).code, 'request_expired');
      assert.equal(final.state, 'expired');
    }
    assert.equal(expire.status, 'fulfilled'); // a job that lost the race has nothing to do, it does not fail
    const moves = (await deps.store.audit.list({ subject: `call_request:${request.id}` })).filter((e) => e.decision === 'allow' && (e.action === 'request.accept' || e.action === 'request.expire'));
    assert.equal(moves.length, 1);
  });

  it('dials another agent of the group when the owner is away, retries, then asks the customer to reschedule', async () => {
    const deps = t.service.deps;
    const { customerId, devices } = await customerWithDevices('Cora Callback');
    const { request } = await requestCall(deps, { agentId: owner.id, customerId, reason: 'Loan terms', reference: 'CB-1', groupId: 'loans', createdBy: 'test' });
    const at = new Date(Date.now() + 3_600_000);
    await scheduleCallback(deps, devices[0]!.device, request.id, at, 'after lunch');
    await setAgentAvailability(deps, owner.id, 'away');
    await setAgentAvailability(deps, colleague.id, 'available');
    const dials: LiveEvent[] = [];
    const unsubscribe = deps.events.subscribe((e) => e.type === 'callback.dial' && dials.push(e));
    t.advance(3_600_000);
    try {
      await callbackDue(deps, request.id);
      assert.equal(dials.length, 1);
      assert.equal((dials[0] as { agentId: string }).agentId, colleague.id);
      let r = (await deps.store.callRequests.get(request.id))!;
      assert.equal(r.state, 'agent_dialled');
      assert.equal((await deps.store.agents.get(colleague.id))?.availability, 'busy');

      // Each failed attempt is retried per policy until the attempts run out.
      await callbackAttemptFailed(deps, request.id, 'no_answer');
      r = (await deps.store.callRequests.get(request.id))!;
      assert.equal(r.state, 'scheduled');
      assert.ok(r.scheduledFor! > new Date(Date.now() + 3_600_000));
      for (let i = 1; i < deps.config.scheduling.retry.attempts; i++) {
        await deps.store.agents.setAvailability(colleague.id, 'available', deps.clock());
        t.advance(deps.config.scheduling.retry.spacingMinutes * 60_000);
        await callbackDue(deps, request.id);
        await callbackAttemptFailed(deps, request.id, 'busy');
      }
      r = (await deps.store.callRequests.get(request.id))!;
      assert.equal(r.state, 'expired');
      assert.equal(r.outcome, 'gave_up');
      assert.equal(r.attempts, deps.config.scheduling.retry.attempts);
    } finally {
      unsubscribe();
      t.advance(-t.config.scheduling.retry.spacingMinutes * 60_000 * (t.config.scheduling.retry.attempts - 1) - 3_600_000);
    }
  });

  it('moves a callback whose slot passed during an outage to the next open time', async () => {
    const deps = t.service.deps;
    const { customerId, devices } = await customerWithDevices('Otto Outage');
    const { request } = await requestCall(deps, { agentId: colleague.id, customerId, reason: 'r', reference: 'MISS-1', createdBy: 'test' });
    const at = new Date(Date.now() + 600_000);
    await scheduleCallback(deps, devices[0]!.device, request.id, at, null);
    t.advance(600_000 + 2 * deps.config.scheduling.slotMinutes * 60_000);
    try {
      await callbackDue(deps, request.id);
      const r = (await deps.store.callRequests.get(request.id))!;
      assert.equal(r.state, 'scheduled');
      assert.ok(r.scheduledFor! > deps.clock(), 'moved to a time still ahead');
    } finally {
      t.advance(-(600_000 + 2 * t.config.scheduling.slotMinutes * 60_000));
    }
  });

  it('never writes a token, PIN, credential, code or password to the logs', async () => {
    // Tokens issued in other suites are not in this service's logs; issue one here.
    const deps = t.service.deps;
    const { customerId, devices } = await customerWithDevices('Lena Logs');
    const { request } = await requestCall(deps, { agentId: owner.id, customerId, reason: 'r', reference: 'LOG-1', createdBy: 'test' });
    const phone = devices[0]!;
    const challenge = await t.call('POST', `/api/v1/app/requests/${request.id}/accept`, { token: phone.credential });
    assert.equal(challenge.status, 200, challenge.text);
    const issued = await t.call('POST', `/api/v1/app/requests/${request.id}/authenticate`, {
      token: phone.credential,
      body: { challengeId: challenge.body.challengeId, method: 'pin', pin: PIN, signature: phone.key.sign(challenge.body.challenge) },
    });
    assert.equal(issued.status, 200, issued.text);
    secrets.push(issued.body.token, challenge.body.challenge);
    assert.ok(t.logs.length > 50, 'the service logged');
    const all = t.logs.join('\n');
    for (const s of secrets) assert.ok(!all.includes(s), `a secret (${s.slice(0, 4)}…) reached the logs`);
  });
});
