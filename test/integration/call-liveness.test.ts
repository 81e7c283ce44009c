/**
 * What a process that died leaves in the database, and how the reconciler's decisions close it
 * (flows/call-liveness.ts and the store behind them), on real PostgreSQL: a call record held by a
 * dead process closes once with the cause, its session is revoked, its request ends, the agent it
 * made busy is freed; live processes' calls and reservations are left alone. The same decisions
 * run against real drachtio-server and FreeSWITCH in sip-call-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { closeLostCall, endStuckSetups, sweepCallLeftovers } from '../../src/flows/call-liveness.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { makeRequest } from './store-fixtures.js';

describe('calls left behind by a process that died (call liveness, PostgreSQL)', function () {
  this.timeout(60_000);
  let t: TestService;
  let deps: FlowDeps;
  /** The store as a process that then died used it: its records and reservations carry its id. */
  let old: Store;
  const oldId = `old-${randomBytes(4).toString('hex')}`;

  before(async () => {
    t = await startTestService();
    deps = t.service.deps;
    old = await openStore({ url: t.db.url, owner: oldId });
  });
  after(async () => {
    await old?.close();
    await t?.stop();
  });

  /** A connected, verified call as the old process recorded it: request, session, record, busy agent. */
  async function connectedCallOf(store: Store) {
    const { agent, customer, device, request } = await makeRequest(store, {
      state: 'connected',
      acceptedDeviceId: null,
      authMethod: 'biometric',
      authenticatedAt: new Date(),
    });
    const sessionId = randomBytes(16).toString('hex');
    await store.sessions.create({ id: sessionId, callRequestId: request.id, customerId: customer.id, deviceId: device.id, authMethod: 'biometric', authenticatedAt: new Date() });
    const record = await store.callRecords.create({
      callRequestId: request.id,
      sessionId,
      customerId: customer.id,
      agentId: agent.id,
      direction: 'inbound',
      startedAt: new Date(),
      answeredAt: new Date(),
      endedAt: null,
      outcome: null,
      verification: 'token:biometric',
      mediaChannels: ['11111111-2222-3333-4444-555555555555'],
      sipDialogs: ['call-1;from-tag=a'],
    });
    await store.agents.setAvailability(agent.id, 'available', new Date());
    await store.agents.setAvailability(agent.id, 'busy', new Date());
    return { agent, request, sessionId, record };
  }

  it('knows which processes are gone: silent too long, or the same instance name started again', async () => {
    const name = `host-${randomBytes(3).toString('hex')}`;
    await deps.store.instances.beat('proc-a', name);
    await deps.store.instances.beat('proc-b', `${name}-other`);
    const restarted = await deps.store.instances.beat('proc-c', name);
    // Nobody is silent yet, and proc-c does not yet claim to be a restart.
    let dead = await deps.store.instances.dead({ id: 'proc-c', name }, 60, null);
    assert.deepEqual(dead.map((d) => d.id), []);
    // proc-a last beat before proc-c started under its name: proc-c is its restart.
    dead = await deps.store.instances.dead({ id: 'proc-c', name }, 60, restarted.startedAt);
    assert.deepEqual(dead.map((d) => d.id), ['proc-a']);
    // A twin of the same name that still beats after proc-c started is alive.
    await deps.store.instances.beat('proc-a', name);
    dead = await deps.store.instances.dead({ id: 'proc-c', name }, 60, restarted.startedAt);
    assert.deepEqual(dead.map((d) => d.id), []);
    // Silence: every other process is dead once the window is shorter than its silence.
    await new Promise((r) => setTimeout(r, 1100));
    dead = await deps.store.instances.dead({ id: 'proc-c', name }, 1, null);
    assert.deepEqual(dead.map((d) => d.id).sort(), ['proc-a', 'proc-b']);
    assert.equal(await deps.store.instances.isAlive('proc-b', 60), true);
    assert.equal(await deps.store.instances.isAlive('proc-b', 1), false);
    for (const id of ['proc-a', 'proc-b', 'proc-c']) await deps.store.instances.remove(id);
  });

  it('closes a dead process\'s call once: record ended with the cause, session revoked, request ended, audited', async () => {
    const { request, sessionId, record } = await connectedCallOf(old);
    const [open] = (await deps.store.callRecords.listOpen([oldId])).filter((r) => r.id === record.id);
    assert.ok(open, 'the record is listed as the old process\'s open call');
    assert.deepEqual(open.mediaChannels, ['11111111-2222-3333-4444-555555555555']);
    assert.equal((await deps.store.callRecords.findOpenByDialog('call-1;from-tag=a'))?.id, record.id);

    assert.equal(await closeLostCall(deps, open, 'service_restarted'), true);
    // A second closer (another survivor, the party's BYE) finds nothing left to do.
    assert.equal(await closeLostCall(deps, open, 'service_restarted'), false);

    const [after] = await deps.store.callRecords.list({ callRequestId: request.id });
    assert.equal(after!.outcome, 'service_restarted');
    assert.ok(after!.endedAt);
    assert.ok((await deps.store.sessions.get(sessionId))!.revokedAt, 'the session id can verify nobody any more');
    const req = await deps.store.callRequests.get(request.id);
    assert.equal(req!.state, 'ended');
    assert.equal(req!.outcome, 'service_restarted');
    assert.equal(await deps.store.callRecords.findOpenByDialog('call-1;from-tag=a'), null);
    const audit = await deps.store.audit.list({ subject: `call_request:${request.id}` });
    const closes = audit.filter((e) => e.action === 'call.reconcile');
    assert.equal(closes.length, 1, 'audited once');
  });

  it('frees an agent made busy by a dead process, and leaves a live reservation alone', async () => {
    const { agent } = await connectedCallOf(old);
    const [rec] = await deps.store.callRecords.listOpen([oldId]);
    // While the call is open, nobody frees the agent, whoever is dead.
    assert.ok(!(await deps.store.agents.freeWithoutCall([oldId], new Date(0), new Date())).includes(agent.id));
    assert.equal((await deps.store.agents.get(agent.id))!.availability, 'busy');
    await closeLostCall(deps, rec!, 'instance_lost');

    // A reservation by a live process (this one), for a call still ringing.
    const { agent: ringing } = await makeRequest(deps.store);
    await deps.store.agents.setAvailability(ringing.id, 'available', new Date());
    assert.equal(await deps.store.agents.reserve(ringing.id), true);

    const left = await sweepCallLeftovers(deps, { deadOwners: [oldId], staleBusyBefore: new Date(Date.now() - 300_000) });
    assert.ok(left.agents >= 1);
    assert.equal((await deps.store.agents.get(agent.id))!.availability, 'available');
    assert.equal((await deps.store.agents.get(ringing.id))!.availability, 'busy', 'a live reservation stays');
    // Past the longest call setup, a reservation with no call is released too.
    await sweepCallLeftovers(deps, { deadOwners: [], staleBusyBefore: new Date(Date.now() + 1000) });
    assert.equal((await deps.store.agents.get(ringing.id))!.availability, 'available');
  });

  it('revokes a session whose calls have all ended, never one mid-transfer', async () => {
    const { request, sessionId, record } = await connectedCallOf(deps.store);
    // A transfer opens the next record first, then closes the previous one.
    const next = await deps.store.callRecords.create({ ...record, startedAt: new Date(), verification: 'session' });
    await deps.store.callRecords.close(record.id, new Date(), 'transferred');
    await sweepCallLeftovers(deps, { deadOwners: [], staleBusyBefore: new Date(0) });
    assert.equal((await deps.store.sessions.get(sessionId))!.revokedAt, null, 'the session still has its open call');
    // The call ended without its session being revoked (the process died between the two writes).
    await deps.store.callRecords.close(next.id, new Date(), 'completed');
    const left = await sweepCallLeftovers(deps, { deadOwners: [], staleBusyBefore: new Date(0) });
    assert.ok(left.sessions >= 1);
    assert.ok((await deps.store.sessions.get(sessionId))!.revokedAt);
    assert.equal((await deps.store.callRequests.get(request.id))!.state, 'connected', 'the sweep only revokes; closing is the reconciler\'s');
  });

  it('ends a call setup whose process is gone: a dialled callback counts as a failed attempt, a queued call ends; a live one is left alone', async () => {
    const { request: dialled } = await makeRequest(deps.store, { state: 'agent_dialled', attempts: 1, scheduledFor: new Date() });
    const { request: queued } = await makeRequest(deps.store, { state: 'connecting', authMethod: 'pin', authenticatedAt: new Date() });
    const { request: fresh } = await makeRequest(deps.store, { state: 'agent_dialled', attempts: 1, scheduledFor: new Date() });
    const { request: talking, sessionId } = await connectedCallOf(deps.store);
    // Three of them were last moved long ago, past any live process's setup.
    const db = new pg.Client({ connectionString: t.db.url });
    await db.connect();
    try {
      await db.query(`UPDATE call_requests SET updated_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`, [[dialled.id, queued.id, talking.id]]);
      await db.query(`UPDATE call_requests SET state = 'connecting' WHERE id = $1`, [talking.id]);
    } finally {
      await db.end();
    }
    const ended = await endStuckSetups(deps);
    assert.equal(ended, 2, t.logs.filter((l) => l.includes('call setup')).join('\n'));
    const d = (await deps.store.callRequests.get(dialled.id))!;
    assert.notEqual(d.state, 'agent_dialled', 'the dialled callback moved on (retry or given up)');
    const q = (await deps.store.callRequests.get(queued.id))!;
    assert.equal(q.state, 'ended');
    assert.equal(q.outcome, 'failed');
    assert.equal((await deps.store.callRequests.get(fresh.id))!.state, 'agent_dialled', 'a setup still within its time is left alone');
    assert.equal((await deps.store.callRequests.get(talking.id))!.state, 'connecting', 'a request with an open call record is left alone');
    assert.equal((await deps.store.sessions.get(sessionId))!.revokedAt, null);
    const audit = await deps.store.audit.list({ subject: `call_request:${queued.id}` });
    assert.ok(audit.some((e) => e.action === 'call.reconcile' && /never finished/.test(e.reason)));
  });
});
