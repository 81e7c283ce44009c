/**
 * The database restarts under load: a PostgreSQL cluster of the test's own is stopped
 * (`pg_ctl stop -m fast`), kept down for a second and started again, three times while clients
 * knock, accept, schedule and reschedule for about 45 s. Afterwards every open request has exactly the jobs its state needs, due at the time
 * it shows; every scheduled callback that came due fired exactly once; no answer was a 500 (503
 * with Retry-After during the outages); the audit chain verifies.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { createAgent, createCustomer } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode, setPushSubscription } from '../../src/flows/enrollment.js';
import { drainOutbox } from '../../src/flows/outbox.js';
import { reconcileRequestJobs } from '../../src/flows/reconcile.js';
import { jobsNeeded } from '../../src/flows/request-jobs.js';
import { startService, type RunningService } from '../../src/service.js';
import { startFakePushService, type FakePushService } from '../support/fake-push-service.js';
import { PgCluster, pgClusterSkipReason } from '../support/pg-cluster.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';

const CLIENTS = 12;
const LOAD_MS = 36_000;
const RESTARTS_AT_MS = [6_000, 15_000, 24_000];
const DOWN_MS = 1_000;
const ANSWER_LIMIT_S = 4;
const PIN = '482916';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('database restarts under load', function () {
  this.timeout(120_000);
  let cluster: PgCluster | null = null;
  let service: RunningService | null = null;
  let push: FakePushService | null = null;

  before(async function () {
    const missing = pgClusterSkipReason();
    if (missing) return skipWhenMissing(this, missing);
    try {
      cluster = await PgCluster.create();
    } catch (e) {
      return skipWhenMissing(this, `database restart test skipped: cannot run initdb/pg_ctl (${(e as Error).message.split('\n')[0]})`);
    }
  });

  after(async () => {
    await service?.stop().catch(() => undefined);
    await push?.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('keeps every request consistent, fires each due callback once, and never answers 500', async () => {
    const c = cluster!;
    push = await startFakePushService();
    const config = loadConfig({
      DATABASE_URL: c.url,
      KNOCK_SERVER__PORT: '0',
      KNOCK_JOBS__PROCESS_EVERY_MS: '200',
      // A job whose instance lost its lock in the outage is taken again soon.
      KNOCK_JOBS__LOCK_LIFETIME_MS: '3000',
      KNOCK_JOBS__HOUSEKEEPING_CRON: '*/3 * * * * *',
      KNOCK_REQUESTS__ANSWER_TIME_LIMIT_SECONDS: String(ANSWER_LIMIT_S),
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
      KNOCK_DATABASE__POOL_SIZE: '20',
      KNOCK_SCHEDULING__BUSINESS_HOURS: JSON.stringify(Object.fromEntries(['1', '2', '3', '4', '5', '6', '7'].map((d) => [d, ['00:00-24:00']]))),
      KNOCK_SCHEDULING__DEFAULT_TIME_ZONE: 'UTC',
      // Callbacks are scheduled seconds ahead, at any second of any day.
      KNOCK_SCHEDULING__CLOSED_DATES: '[]',
      KNOCK_SCHEDULING__SLOT_STARTS_ONLY: 'false',
      KNOCK_SIP__ENABLED: 'false',
      KNOCK_METRICS__LISTEN: '127.0.0.1:0',
      // The push service double listens on plain HTTP on loopback.
      KNOCK_NOTIFY__WEBPUSH__ALLOWED_ENDPOINT_ORIGINS: JSON.stringify([push.origin]),
    });
    service = await startService(config, { logger: pino({ level: 'silent' }), instanceName: 'fault' });
    const deps = service.deps;
    const url = service.url!;

    const statuses = new Map<number, number>();
    let missingRetryAfter = 0;
    async function call(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
      // Retried through the outage the way a client honouring 503 + Retry-After does.
      for (let attempt = 0; ; attempt++) {
        let status: number;
        let json: any = null;
        try {
          const res = await fetch(`${url}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
            body: body ? JSON.stringify(body) : undefined,
          });
          status = res.status;
          const text = await res.text();
          json = text ? JSON.parse(text) : null;
          if (status === 503 && !res.headers.get('retry-after')) missingRetryAfter++;
        } catch {
          status = 0;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status !== 503 || attempt > 40) return { status, body: json };
        await sleep(250);
      }
    }

    // People: agents with their consoles, customers with a phone each (one pair per client).
    const clients: Array<{ agentToken: string; customerId: string; credential: string; key: SoftDeviceKey }> = [];
    for (let i = 0; i < CLIENTS; i++) {
      await createAgent(deps, { username: `fa${i}`, name: `Agent ${i}`, extension: `${4000 + i}`, password: `fault-password-${i}`, groups: [] });
      const login = await call('POST', '/api/v1/auth/login', '', { username: `fa${i}`, password: `fault-password-${i}` });
      const customer = await createCustomer(deps, { name: `Fault Customer ${i}`, phone: null, timeZone: 'UTC', externalRef: null });
      const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
      const key = new SoftDeviceKey();
      const enrolled = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: key.publicJwk, pin: PIN });
      await setPushSubscription(deps, enrolled.device, push.createSubscription().subscription);
      clients.push({ agentToken: login.body.token, customerId: customer.id, credential: enrolled.credential, key });
    }

    const deadline = Date.now() + LOAD_MS;
    const scheduledIds = new Set<string>();
    let knocks = 0;
    async function client(index: number) {
      const me = clients[index]!;
      for (let round = 0; Date.now() < deadline; round++) {
        const k = await call('POST', '/api/v1/call-requests', me.agentToken, { customerId: me.customerId, reason: 'Fault test', reference: `F-${index}-${round}` }, { 'Idempotency-Key': `f-${index}-${round}` });
        if (k.status !== 201 && k.status !== 200) continue;
        knocks++;
        const id = k.body.id as string;
        const path = `/api/v1/app/requests/${id}`;
        const mode = (index + round) % 3;
        if (mode === 0) {
          const begun = await call('POST', `${path}/accept`, me.credential);
          if (begun.status === 200 || begun.status === 201) {
            await call('POST', `${path}/authenticate`, me.credential, { challengeId: begun.body.challengeId, method: 'pin', pin: PIN, signature: me.key.sign(begun.body.challenge) });
          }
        } else if (mode === 1) {
          const at = Date.now() + 2_000 + Math.floor(Math.random() * 2_000);
          const s = await call('POST', `${path}/schedule`, me.credential, { at: new Date(at).toISOString() });
          if (s.status === 200) scheduledIds.add(id);
          // Reschedule (sometimes twice), racing the first time if it is already close.
          for (let r = 0; r < 1 + (round % 2); r++) {
            const again = await call('POST', `${path}/schedule`, me.credential, { at: new Date(at + 1_500 + r * 500).toISOString() });
            if (again.status === 200) scheduledIds.add(id);
          }
          // Wait for the callback to fire (the customer is prompted), then the pair is free again.
          for (let w = 0; w < 40 && Date.now() < deadline; w++) {
            const v = await call('GET', `/api/v1/call-requests/${id}`, me.agentToken);
            if (v.body?.state === 'prompted') break;
            await sleep(250);
          }
        } else {
          // Left unanswered: the expiry job closes the answer window.
          await sleep(ANSWER_LIMIT_S * 1000 + 500);
        }
        await call('POST', `/api/v1/call-requests/${id}/cancel`, me.agentToken);
      }
    }

    const restarts = (async () => {
      const started = Date.now();
      for (const at of RESTARTS_AT_MS) {
        await sleep(Math.max(0, started + at - Date.now()));
        await c.outage(DOWN_MS);
      }
    })();
    await Promise.all([restarts, ...clients.map((_, i) => client(i))]);

    // Quiesce: let due jobs fire, then one round of the repairs housekeeping also runs.
    await sleep(ANSWER_LIMIT_S * 1000 + 4_000);
    const repaired = await reconcileRequestJobs(deps);
    await drainOutbox(deps);
    await sleep(2_000);

    const db = new pg.Client({ connectionString: c.url });
    await db.connect();
    try {
      const requests = await deps.store.callRequests.list({ limit: 1000 });
      const { rows: jobs } = await db.query<{ request_id: string; name: string; at: Date | null; locked: boolean }>(
        `SELECT data->>'requestId' AS request_id, name, next_run_at AS at, locked_at IS NOT NULL AS locked FROM agenda_jobs WHERE name <> 'call.transfer'`,
      );
      const now = Date.now();
      const inconsistent: string[] = [];
      for (const r of requests) {
        const needs = jobsNeeded(r);
        const has = jobs.filter((j) => j.request_id === r.id);
        const open = r.state !== 'ended' && r.state !== 'cancelled';
        const wrong =
          (open && has.length !== needs.size) ||
          has.some((j) => !needs.has(j.name as never) || (!j.locked && j.at?.getTime() !== needs.get(j.name as never)!.getTime()));
        if (wrong) inconsistent.push(`${r.id} ${r.state} jobs=${JSON.stringify(has)}`);
        // Nothing is left waiting on a time that has passed: each such job fired.
        if (r.state === 'scheduled' && r.scheduledFor!.getTime() < now - 2_000) inconsistent.push(`${r.id} scheduled in the past`);
        if (r.state === 'notified' && r.answerDeadline.getTime() < now - 2_000) inconsistent.push(`${r.id} notified past its deadline`);
      }

      const multiFired: string[] = [];
      for (const id of scheduledIds) {
        const fired = (await deps.store.audit.list({ subject: `call_request:${id}` })).filter((e) => e.action === 'request.callback_due' && e.decision === 'allow');
        const final = requests.find((r) => r.id === id);
        // A callback cancelled before its time never fires; every other one fires exactly once.
        if (fired.length !== 1 && !(fired.length === 0 && final?.state === 'cancelled')) multiFired.push(`${id} fired ${fired.length}x (${final?.state})`);
      }
      const firedCount = [...scheduledIds].length - multiFired.length;
      const verify = await deps.store.audit.verify();

      const figures = { knocks, requests: requests.length, callbacks: scheduledIds.size, firedCount, repairedAtEnd: repaired, statuses: Object.fromEntries(statuses), missingRetryAfter };
      console.log(`      figures: ${JSON.stringify(figures)}`);
      assert.deepEqual(inconsistent, [], 'every request has exactly the jobs its state needs');
      assert.deepEqual(multiFired, [], 'every due callback fired exactly once');
      assert.equal(statuses.get(500) ?? 0, 0, 'no 500 answers');
      assert.equal(missingRetryAfter, 0, 'every 503 carries Retry-After');
      assert.ok((statuses.get(503) ?? 0) + (statuses.get(0) ?? 0) > 0, 'the restarts were felt by the clients');
      assert.ok(scheduledIds.size >= 10, 'enough callbacks were scheduled to count');
      assert.ok(verify.ok, `audit chain: ${verify.problem}`);
    } finally {
      await db.end();
    }
  });

  it('checks no more wrong passwords than the sign-in limit allows, through a database outage', async function () {
    if (!service) this.skip();
    const c = cluster!;
    const limit = service!.deps.config.auth.loginAttemptsPerMinute;
    await createAgent(service!.deps, { username: 'guarded', name: 'Guarded Agent', extension: '4999', password: 'the-right-password', groups: [] });
    const statuses: number[] = [];
    const attempt = async (password: string) => {
      try {
        const res = await fetch(`${service!.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'guarded', password }) });
        await res.text();
        return res.status;
      } catch {
        return 0;
      }
    };
    const wave = async (n: number, tag: string) => statuses.push(...(await Promise.all(Array.from({ length: n }, (_, i) => attempt(`${tag}-${i}`)))));
    // Guesses in flight as the database goes down, guesses while it is down, guesses after.
    const inFlight = wave(3, 'going-down');
    await c.stopAsync();
    await inFlight;
    await wave(3, 'down');
    await sleep(DOWN_MS);
    await c.startAsync();
    for (let w = 0; w < 3; w++) await wave(6, `after-${w}`);
    const count = (s: number) => statuses.filter((x) => x === s).length;
    console.log(`      figures: ${JSON.stringify({ attempts: statuses.length, checkedWrong: count(401), refused429: count(429), unavailable503: count(503), limit })}`);
    assert.equal(count(500), 0, 'no 500 answers');
    assert.ok(count(401) <= limit, `at most ${limit} wrong passwords were checked, not ${count(401)}`);
    assert.ok(count(503) > 0, 'the outage was felt by the guesses');
    // The limit is still in force after the outage: even the right password is refused unchecked.
    assert.equal(await attempt('the-right-password'), 429);
  });
});
