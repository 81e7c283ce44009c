/**
 * The one write path: a move and the jobs and notification it implies commit together or not at
 * all. Faults are real database errors: a trigger on the jobs table refuses writes with
 * admin_shutdown (57P01), the code a PostgreSQL restart sends; a second one slows job writes to
 * widen the windows concurrent reschedules race in.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { createAgent, createCustomer } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import { reconcileRequestJobs } from '../../src/flows/reconcile.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';

describe('one write path: a move and the jobs and notification it implies', function () {
  this.timeout(60_000);
  let t: TestService;
  let db: pg.Client;
  let agentToken: string;
  let n = 0;

  /** A fresh customer with an enrolled, push-subscribed device. */
  async function customer() {
    const deps = t.service.deps;
    const c = await createCustomer(deps, { name: `Write Path ${++n}`, phone: null, timeZone: 'UTC', externalRef: null });
    const { code } = await issueEnrollmentCode(deps, c.id, 'test');
    const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    const sub = t.push.createSubscription();
    await setPushSubscription(deps, enrolled.device, sub.subscription);
    return { id: c.id, credential: enrolled.credential, pushes: () => sub.payloads() as any[] };
  }

  const knock = (customerId: string, headers: Record<string, string> = {}) =>
    t.call('POST', '/api/v1/call-requests', { token: agentToken, body: { customerId, reason: 'Card check', reference: `WP-${++n}` }, headers });

  async function jobsOf(requestId: string): Promise<Array<{ name: string; at: Date }>> {
    const { rows } = await db.query(`SELECT name, next_run_at AS at FROM agenda_jobs WHERE data->>'requestId' = $1 ORDER BY name`, [requestId]);
    return rows;
  }

  async function failJobWrites(on: boolean): Promise<void> {
    await db.query(
      on
        ? `CREATE OR REPLACE FUNCTION test_fail_job_write() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = 'admin_shutdown'; END $$;
           CREATE TRIGGER test_fail_job_write BEFORE INSERT ON agenda_jobs FOR EACH ROW EXECUTE FUNCTION test_fail_job_write()`
        : `DROP TRIGGER IF EXISTS test_fail_job_write ON agenda_jobs`,
    );
  }

  before(async () => {
    t = await startTestService();
    db = new pg.Client({ connectionString: t.db.url });
    await db.connect();
    await createAgent(t.service.deps, { username: 'wpa', name: 'Wanda Path', extension: '3001', password: 'wanda-password-1', groups: [] });
    agentToken = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'wpa', password: 'wanda-password-1' } })).body.token;
  });

  after(async () => {
    await db?.end();
    await t?.stop();
  });

  afterEach(async () => {
    await failJobWrites(false);
    await db.query(`DROP TRIGGER IF EXISTS test_slow_job_write ON agenda_jobs`);
  });

  it('a schedule whose callback job cannot be written is not scheduled: 503 with Retry-After, then it can be retried', async () => {
    const c = await customer();
    const k = await knock(c.id);
    assert.equal(k.status, 201, k.text);
    const at = new Date(Date.now() + 3_600_000).toISOString();

    await failJobWrites(true);
    const failed = await t.call('POST', `/api/v1/app/requests/${k.body.id}/schedule`, { token: c.credential, body: { at } });
    const still = await t.service.deps.store.callRequests.get(k.body.id);
    assert.equal(still!.state, 'notified', 'the move did not commit without its job');
    assert.deepEqual((await jobsOf(k.body.id)).map((j) => j.name), ['request.expire']);
    assert.equal(failed.status, 503, failed.text);
    assert.ok(Number(failed.headers.get('retry-after')) > 0);

    await failJobWrites(false);
    const ok = await t.call('POST', `/api/v1/app/requests/${k.body.id}/schedule`, { token: c.credential, body: { at } });
    assert.equal(ok.status, 200, ok.text);
    const jobs = await jobsOf(k.body.id);
    assert.deepEqual(jobs.map((j) => j.name), ['callback.due']);
    assert.equal(jobs[0]!.at.toISOString(), at);
  });

  it('a knock whose expiry job cannot be written stores nothing and sends no push; the retry with its Idempotency-Key does both', async () => {
    const c = await customer();
    await failJobWrites(true);
    const failed = await knock(c.id, { 'Idempotency-Key': 'wp-knock-1' });
    assert.equal(c.pushes().length, 0, 'no push for a request that was not stored');
    assert.equal((await t.service.deps.store.callRequests.list({ customerId: c.id })).length, 0);
    assert.equal(failed.status, 503, failed.text);

    await failJobWrites(false);
    const retried = await knock(c.id, { 'Idempotency-Key': 'wp-knock-1' });
    assert.equal(retried.status, 201, retried.text);
    assert.equal(c.pushes().filter((p) => p.kind === 'knock').length, 1);
    const jobs = await jobsOf(retried.body.id);
    assert.deepEqual(jobs.map((j) => j.name), ['request.expire']);
    assert.equal(jobs[0]!.at.toISOString(), retried.body.answerDeadline);
  });

  it('a notified request past its deadline with no expiry job does not block the next knock', async () => {
    const c = await customer();
    const first = await knock(c.id);
    assert.equal(first.status, 201, first.text);
    await db.query(`DELETE FROM agenda_jobs WHERE data->>'requestId' = $1`, [first.body.id]); // the lost job
    t.advance(t.config.requests.answerTimeLimitSeconds * 1000 + 1000);
    try {
      const second = await knock(c.id);
      assert.equal(second.status, 201, second.text);
      assert.notEqual(second.body.id, first.body.id);
      assert.equal(c.pushes().filter((p) => p.kind === 'knock' && p.callRequestId === second.body.id).length, 1);
      const old = await t.service.deps.store.callRequests.get(first.body.id);
      assert.equal(old!.state, 'cancelled');
      const actions = (await t.service.deps.store.audit.list({ subject: `call_request:${first.body.id}` })).map((e) => `${e.action}:${e.decision}`);
      assert.deepEqual(actions.slice(-2), ['request.expire:allow', 'request.cancel:allow']);
    } finally {
      t.advance(-(t.config.requests.answerTimeLimitSeconds * 1000 + 1000));
    }
  });

  it('20 concurrent reschedules leave the request and its callback job at the same time', async () => {
    const c = await customer();
    const k = await knock(c.id);
    assert.equal(k.status, 201, k.text);
    // Slow job writes a little, as a loaded database does, so the race windows are wide.
    await db.query(`CREATE OR REPLACE FUNCTION test_slow_job_write() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_sleep(random() * 0.03); RETURN NEW; END $$;
                    CREATE TRIGGER test_slow_job_write BEFORE INSERT ON agenda_jobs FOR EACH ROW EXECUTE FUNCTION test_slow_job_write()`);
    const base = Date.now() + 2 * 3_600_000;
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t.call('POST', `/api/v1/app/requests/${k.body.id}/schedule`, { token: c.credential, body: { at: new Date(base + (round * 20 + i) * 60_000).toISOString() } }),
        ),
      );
      assert.ok(answers.every((a) => a.status === 200 || a.status === 409), answers.map((a) => a.status).join(','));
      const req = await t.service.deps.store.callRequests.get(k.body.id);
      const jobs = await jobsOf(k.body.id);
      assert.deepEqual(jobs.map((j) => j.name), ['callback.due']);
      assert.equal(jobs[0]!.at.toISOString(), req!.scheduledFor!.toISOString(), `round ${round}: the job is due when the request says`);
    }
  });

  it('the reconciler schedules a missing job, audited once per repair', async () => {
    const c = await customer();
    const k = await knock(c.id);
    await db.query(`DELETE FROM agenda_jobs WHERE data->>'requestId' = $1`, [k.body.id]);
    const repaired = await reconcileRequestJobs(t.service.deps);
    assert.ok(repaired >= 1);
    const jobs = await jobsOf(k.body.id);
    assert.deepEqual(jobs.map((j) => j.name), ['request.expire']);
    assert.equal(jobs[0]!.at.toISOString(), k.body.answerDeadline);
    const repairs = (await t.service.deps.store.audit.list({ subject: `call_request:${k.body.id}` })).filter((e) => e.action === 'request.repair');
    assert.equal(repairs.length, 1);
    assert.equal(await reconcileRequestJobs(t.service.deps), 0, 'nothing left to repair');
  });
});
