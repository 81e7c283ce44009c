/**
 * The console's call features through the HTTP API on real PostgreSQL: "call now" on a scheduled
 * callback in both callback modes, the transfer endpoint's refusals, and transfer jobs that end
 * with a reason (the transfer itself, over real SIP, is in sip-console-transfer.test.ts).
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import type { LiveEvent } from '../../src/flows/ports.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

interface EnrolledCustomer {
  customerId: string;
  deviceCredential: string;
  pushes: () => any[];
}

describe('console call features through the API', function () {
  this.timeout(60_000);
  let t: TestService;
  const tokens: Record<string, string> = {};
  const agentIds: Record<string, string> = {};
  const events: LiveEvent[] = [];
  let unsubscribe: () => void;

  async function enrolledCustomer(name: string): Promise<EnrolledCustomer> {
    const deps = t.service.deps;
    const customer = await createCustomer(deps, { name, phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    const sub = t.push.createSubscription();
    await setPushSubscription(deps, enrolled.device, sub.subscription);
    return { customerId: customer.id, deviceCredential: enrolled.credential, pushes: () => sub.payloads() as any[] };
  }

  /** The agent knocks and the customer picks a time two hours ahead in the app. */
  async function scheduledCallback(agent: string, customer: EnrolledCustomer, groupId: string, reference: string): Promise<string> {
    const knock = await t.call('POST', '/api/v1/call-requests', {
      token: tokens[agent]!,
      body: { customerId: customer.customerId, reason: 'Card payment check', reference, groupId },
    });
    assert.equal(knock.status, 201, knock.text);
    const at = new Date(Date.now() + 2 * 3_600_000);
    const scheduled = await t.call('POST', `/api/v1/app/requests/${knock.body.id}/schedule`, { token: customer.deviceCredential, body: { at: at.toISOString(), note: 'after lunch' } });
    assert.equal(scheduled.status, 200, scheduled.text);
    assert.deepEqual((await t.service.scheduler.pending(knock.body.id)).map((j) => j.name), ['callback.due']);
    return knock.body.id as string;
  }

  before(async () => {
    t = await startTestService();
    const deps = t.service.deps;
    const hours = deps.config.scheduling.businessHours;
    await saveGroup(deps, { id: 'outbound', name: 'Outbound', timeZone: 'UTC', businessHours: hours, slotCapacity: null, slotMinutes: 30, callbackMode: 'agent_calls' });
    await saveGroup(deps, { id: 'inbound', name: 'Inbound', timeZone: 'UTC', businessHours: hours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    for (const [username, role] of [['zoe', 'agent'], ['sam', 'agent'], ['sue', 'supervisor']] as const) {
      const agent = await createAgent(deps, { username, name: `${username[0]!.toUpperCase()}${username.slice(1)} Agent`, extension: String(3000 + Object.keys(tokens).length), password: `${username}-password-1`, groups: ['outbound', 'inbound'], role });
      agentIds[username] = agent.id;
      const login = await t.call('POST', '/api/v1/auth/login', { body: { username, password: `${username}-password-1` } });
      assert.equal(login.status, 200, login.text);
      tokens[username] = login.body.token;
      const available = await t.call('PUT', '/api/v1/me/availability', { token: login.body.token, body: { availability: 'available' } });
      assert.equal(available.status, 200, available.text);
    }
    unsubscribe = deps.events.subscribe((e) => void events.push(e));
  });

  async function transferJobs(): Promise<number> {
    const pool = new pg.Pool({ connectionString: t.db.url, max: 1 });
    try {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM agenda_jobs WHERE name = 'call.transfer'`);
      return rows[0].n as number;
    } finally {
      await pool.end();
    }
  }

  after(async () => {
    unsubscribe?.();
    await t?.stop();
  });

  it('"call now" in agent-calls mode reserves the agent and asks the SIP side to dial, instead of waiting for the time', async () => {
    const customer = await enrolledCustomer('Finn Customer');
    const requestId = await scheduledCallback('zoe', customer, 'outbound', 'CASE-7001');

    const started = await t.call('POST', `/api/v1/call-requests/${requestId}/call-now`, { token: tokens.zoe });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.state, 'agent_dialled');
    assert.equal(started.body.mode, 'agent_calls');
    assert.equal(started.body.attempts, 1);

    // The same dial request *89 makes: the SIP layer places it, agent first.
    const dial = events.find((e) => e.type === 'callback.dial' && e.requestId === requestId);
    assert.ok(dial, 'a callback.dial event was published');
    assert.equal(dial.type === 'callback.dial' && dial.agentId, agentIds.zoe);
    assert.equal((await t.service.deps.store.agents.get(agentIds.zoe!))!.availability, 'busy');
    // The scheduled job is gone: it would only have found nothing left to do.
    assert.deepEqual(await t.service.scheduler.pending(requestId), []);

    const again = await t.call('POST', `/api/v1/call-requests/${requestId}/call-now`, { token: tokens.zoe });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'conflict');
  });

  it('"call now" in customer-calls mode prompts the customer to place the call now', async () => {
    const customer = await enrolledCustomer('Gail Customer');
    const requestId = await scheduledCallback('sam', customer, 'inbound', 'CASE-7002');

    const started = await t.call('POST', `/api/v1/call-requests/${requestId}/call-now`, { token: tokens.sam });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.state, 'prompted');
    assert.equal(started.body.mode, 'customer_calls');
    assert.equal(started.body.customerNotified, true);
    const prompt = await waitFor('the prompt push', () => customer.pushes().find((p) => p.callRequestId === requestId && p.kind === 'callback_prompt'));
    assert.equal(prompt.actions.accept, true);
    assert.equal(prompt.reference, 'CASE-7002');
    assert.deepEqual(await t.service.scheduler.pending(requestId), []);
    // The app now offers to place the call.
    const view = await t.call('GET', `/api/v1/app/requests/${requestId}`, { token: customer.deviceCredential });
    assert.equal(view.body.actions.accept, true);
  });

  it('"call now" is refused for someone else\'s callback, a request that is not a callback, and an unknown id', async () => {
    const customer = await enrolledCustomer('Hal Customer');
    const requestId = await scheduledCallback('sam', customer, 'inbound', 'CASE-7003');

    const notYours = await t.call('POST', `/api/v1/call-requests/${requestId}/call-now`, { token: tokens.zoe });
    assert.equal(notYours.status, 403);
    assert.equal(notYours.body.code, 'forbidden');
    assert.equal((await t.service.deps.store.callRequests.get(requestId))!.state, 'scheduled');

    const other = await enrolledCustomer('Ivy Customer');
    const knock = await t.call('POST', '/api/v1/call-requests', { token: tokens.sam, body: { customerId: other.customerId, reason: 'Check', reference: 'CASE-7004' } });
    const notCallback = await t.call('POST', `/api/v1/call-requests/${knock.body.id}/call-now`, { token: tokens.sam });
    assert.equal(notCallback.status, 409);
    assert.match(notCallback.body.detail, /not a callback waiting to be made/);

    const unknown = await t.call('POST', '/api/v1/call-requests/00000000-0000-4000-8000-000000000000/call-now', { token: tokens.sam });
    assert.equal(unknown.status, 404);

    // A supervisor may start anyone's callback.
    const bySupervisor = await t.call('POST', `/api/v1/call-requests/${requestId}/call-now`, { token: tokens.sue });
    assert.equal(bySupervisor.status, 200, bySupervisor.text);
    assert.equal(bySupervisor.body.state, 'prompted');
  });

  it('a transfer is refused with problem details and nothing is scheduled when there is no call to move', async () => {
    const customer = await enrolledCustomer('Jo Customer');
    const knock = await t.call('POST', '/api/v1/call-requests', { token: tokens.zoe, body: { customerId: customer.customerId, reason: 'Check', reference: 'CASE-7005' } });
    const id = knock.body.id as string;

    const noCall = await t.call('POST', `/api/v1/call-requests/${id}/transfer`, { token: tokens.zoe, body: { toAgentId: agentIds.sam } });
    assert.equal(noCall.status, 409);
    assert.equal(noCall.body.code, 'conflict');
    assert.match(noCall.body.detail, /no verified call in progress/);
    assert.equal(noCall.headers.get('content-type'), 'application/problem+json; charset=utf-8');

    const both = await t.call('POST', `/api/v1/call-requests/${id}/transfer`, { token: tokens.zoe, body: { toAgentId: agentIds.sam, toGroup: 'inbound' } });
    assert.equal(both.status, 400);
    const neither = await t.call('POST', `/api/v1/call-requests/${id}/transfer`, { token: tokens.zoe, body: {} });
    assert.equal(neither.status, 400);
    const unknown = await t.call('POST', '/api/v1/call-requests/00000000-0000-4000-8000-000000000000/transfer', { token: tokens.zoe, body: { toGroup: 'inbound' } });
    assert.equal(unknown.status, 404);

    const audit = await t.service.deps.store.audit.list({ subject: `call_request:${id}` });
    const refused = audit.filter((e) => e.action === 'call.transfer.request');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.decision, 'deny');
    assert.match(refused[0]!.reason, /no verified call in progress/);

    assert.equal(await transferJobs(), 0);

    // Not on a call: the console's call screen has nothing to restore.
    const mine = await t.call('GET', '/api/v1/me/call', { token: tokens.zoe });
    assert.equal(mine.status, 204);
  });

  it('a transfer job that cannot be carried out here ends once with its reason, without retries', async () => {
    const customer = await enrolledCustomer('Kit Customer');
    const knock = await t.call('POST', '/api/v1/call-requests', { token: tokens.zoe, body: { customerId: customer.customerId, reason: 'Check', reference: 'CASE-7006' } });
    const requestId = knock.body.id as string;
    const job = (transferId: string, requestedAt: Date) => ({
      transferId,
      requestId,
      sessionId: 'a'.repeat(32),
      fromAgentId: agentIds.zoe!,
      toAgentId: agentIds.sam!,
      toGroup: null,
      requestedBy: 'test',
      requestedAt: requestedAt.toISOString(),
    });
    // This service runs without SIP and the session does not exist: the call has ended.
    await t.service.scheduler.scheduleTransfer(job('no-call', new Date()));
    // Queued during an outage and found ten minutes later.
    await t.service.scheduler.scheduleTransfer(job('stale', new Date(Date.now() - 600_000)));

    const failed = (id: string) =>
      waitFor(`transfer ${id} to fail`, () => events.find((e) => e.type === 'transfer.changed' && e.transferId === id && e.state === 'failed'));
    const noCall = await failed('no-call');
    assert.equal(noCall.type === 'transfer.changed' && noCall.reason, 'the call has ended');
    const stale = await failed('stale');
    assert.match(stale.type === 'transfer.changed' ? stale.reason : '', /too long ago/);
    await waitFor('both jobs to be gone', async () => (await transferJobs()) === 0);
    const audit = (await t.service.deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'call.transfer.console');
    assert.deepEqual(audit.map((e) => e.decision), ['deny', 'deny']);
    assert.ok(!t.logs.some((l) => l.includes('a'.repeat(32))), 'the session id is not logged');
  });

  it('leaves a transfer job whose live call another instance holds, without failing it, until the stale limit', async () => {
    const deps = t.service.deps;
    const customer = await createCustomer(deps, { name: 'Lee Customer', phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    await setPushSubscription(deps, enrolled.device, t.push.createSubscription().subscription);
    const knock = await t.call('POST', '/api/v1/call-requests', { token: tokens.zoe, body: { customerId: customer.id, reason: 'Check', reference: 'CASE-7007' } });
    assert.equal(knock.status, 201, knock.text);
    const requestId = knock.body.id as string;
    // A live session: the call is in progress, on an instance with SIP (not this one).
    const sessionId = 'b'.repeat(32);
    await deps.store.sessions.create({ id: sessionId, callRequestId: requestId, customerId: customer.id, deviceId: enrolled.device.id, authMethod: 'pin', authenticatedAt: new Date() });
    await t.service.scheduler.scheduleTransfer({
      transferId: 'held-elsewhere',
      requestId,
      sessionId,
      fromAgentId: agentIds.zoe!,
      toAgentId: agentIds.sam!,
      toGroup: null,
      requestedBy: 'test',
      requestedAt: new Date().toISOString(),
    });

    // Taken, left, taken again: the row stays, due again, with no failure counted.
    const pool = new pg.Pool({ connectionString: t.db.url, max: 1 });
    try {
      const runs = new Set<string>();
      await waitFor('the job to be taken and left twice', async () => {
        const { rows } = await pool.query(`SELECT last_finished_at, next_run_at, fail_count FROM agenda_jobs WHERE name = 'call.transfer' AND data->>'transferId' = 'held-elsewhere'`);
        const row = rows[0];
        assert.ok(row, 'the job is still there');
        assert.ok(!row.fail_count, 'leaving is not a failure');
        if (row.last_finished_at && row.next_run_at) runs.add(String(row.last_finished_at.getTime()));
        return runs.size >= 2;
      });
    } finally {
      await pool.end();
    }
    assert.ok(!events.some((e) => e.type === 'transfer.changed' && e.transferId === 'held-elsewhere' && e.state === 'failed'));

    // Two minutes on, nobody has carried it out: it ends once, with its reason.
    t.advance(180_000);
    try {
      const stale = await waitFor('the left job to go stale', () =>
        events.find((e) => e.type === 'transfer.changed' && e.transferId === 'held-elsewhere' && e.state === 'failed'),
      );
      assert.match(stale.type === 'transfer.changed' ? stale.reason : '', /too long ago/);
      await waitFor('the job to be gone', async () => (await transferJobs()) === 0);
    } finally {
      t.advance(-180_000);
    }
  });

  it('refuses a display name with control characters (they would end up in SIP headers) with problem details', async () => {
    const deps = t.service.deps;
    await createAgent(deps, { username: 'ada', name: 'Ada Admin', extension: '3999', password: 'ada-password-1', groups: [], role: 'admin' });
    const login = await t.call('POST', '/api/v1/auth/login', { body: { username: 'ada', password: 'ada-password-1' } });
    assert.equal(login.status, 200, login.text);
    const admin = login.body.token as string;
    const bad = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Eve\r\nX-Evil: 1', phone: null, timeZone: 'UTC', externalRef: null } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(JSON.stringify(bad.body), /name/);
    const good = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Éva O\'Brien', phone: null, timeZone: 'UTC', externalRef: null } });
    assert.equal(good.status, 201, good.text);
  });
});
