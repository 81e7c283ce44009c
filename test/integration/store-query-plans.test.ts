/**
 * Every statement the console, the app, the SIP path and the job runner send uses an index on
 * the tables that grow with traffic (requests, their audit entries, jobs, tokens, sessions, call
 * records): a sequential scan there is flat on an empty database and linear in the history on a
 * busy one, so it passes every functional test and still slows every knock down month by month.
 *
 * How: the database is seeded with enough history for the planner to prefer indexes (one
 * INSERT … SELECT generate_series per table, then ANALYZE); the real repositories then run their
 * statements for real through a pool whose clients record the SQL and parameters they are given;
 * each recorded statement is EXPLAINed with its own parameters, and a Seq Scan on a watched table
 * fails the test, naming the repository call that sent it.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { JOB_RULES } from '../../src/flows/request-jobs.js';
import { createJobsBackend } from '../../src/jobs/agenda-backend.js';
import { JOB_NAMES } from '../../src/store/job-names.js';
import { createJobTable } from '../../src/store/job-table.js';
import { migrate } from '../../src/store/migrate.js';
import { agentLoginRepo } from '../../src/store/repos/agent-login-repo.js';
import { agentRepo } from '../../src/store/repos/agent-repo.js';
import { apiKeyRepo } from '../../src/store/repos/api-key-repo.js';
import { appStreamRepo } from '../../src/store/repos/app-stream-repo.js';
import { attemptLimitRepo } from '../../src/store/repos/attempt-limit-repo.js';
import { auditRepo } from '../../src/store/repos/audit-repo.js';
import { callRecordRepo } from '../../src/store/repos/call-record-repo.js';
import { callRequestRepo } from '../../src/store/repos/call-request-repo.js';
import { challengeRepo } from '../../src/store/repos/challenge-repo.js';
import { customerRepo } from '../../src/store/repos/customer-repo.js';
import { deviceRepo } from '../../src/store/repos/device-repo.js';
import { groupRepo } from '../../src/store/repos/group-repo.js';
import { notificationRepo } from '../../src/store/repos/notification-repo.js';
import { outboxRepo } from '../../src/store/repos/outbox-repo.js';
import { registrationRepo } from '../../src/store/repos/registration-repo.js';
import { sessionRepo } from '../../src/store/repos/session-repo.js';
import { tokenRepo } from '../../src/store/repos/token-repo.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { makeAgent, makeCustomer, makeDevice, makeGroup, newRequest } from './store-fixtures.js';
import type { Store } from '../../src/store/store.js';

/** Tables whose size follows the traffic (every knock or call adds rows). */
const WATCHED = new Set(['call_requests', 'audit_log', 'agenda_jobs', 'issued_tokens', 'auth_sessions', 'call_records', 'notifications', 'challenges']);

/**
 * Scans that are the right plan, by the call that sends them and the table, each with why. Keep
 * this short: an entry here is a statement whose cost grows with that table.
 */
const ALLOWED: Record<string, { table: string; why: string }> = {
  // The reconciler (start-up and housekeeping) visits every open request that needs a job; the
  // jobs table holds pending work only (a fired job is deleted), so one hash anti-join over it is
  // cheaper than a probe per open request, and it does not grow with the history.
  'callRequests.jobGaps': { table: 'agenda_jobs', why: 'anti-join over pending jobs, all of which it checks' },
};

/** History seeded before the plans are taken: enough that a scan costs more than an index probe. */
const HISTORY = 30_000;

interface Recorded {
  /** The repository call that sent it. */
  label: string;
  text: string;
  values: unknown[];
}

const recorded: Recorded[] = [];
let label = '(setup)';

/** A pg client that notes every statement it is given, then runs it as usual. */
class RecordingClient extends pg.Client {
  // Every overload of pg's query passes its statement first and its values second (or inside).
  override query(...args: unknown[]): never {
    const [first, second] = args;
    const text = typeof first === 'string' ? first : (first as { text?: string } | undefined)?.text;
    const values = Array.isArray(second) ? second : ((first as { values?: unknown[] } | undefined)?.values ?? []);
    if (typeof text === 'string') recorded.push({ label, text, values });
    return (pg.Client.prototype.query as (...a: unknown[]) => never).apply(this, args);
  }
}

/** Runs one repository call with its statements recorded under `name`. */
async function as<T>(name: string, fn: () => Promise<T>): Promise<T> {
  label = name;
  try {
    return await fn();
  } finally {
    label = '(between calls)';
  }
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, found: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && WATCHED.has(node['Relation Name'])) found.push(node['Relation Name']);
  for (const child of node.Plans ?? []) seqScans(child, found);
  return found;
}

/** Statements that plan: the rest (BEGIN, COMMIT, LISTEN, advisory locks …) touch no table. */
const PLANNABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;

describe('store query plans on a database with history', function () {
  this.timeout(120_000);
  let db: TestDatabase | undefined;
  let pool: pg.Pool;
  let plain: pg.Pool;

  before(async function () {
    skipWhenMissing(this, process.env.TEST_DATABASE_URL ? null : 'query plans: skipped, TEST_DATABASE_URL is not set (plans are checked on a PostgreSQL server)');
    db = await createTestDatabase();
    plain = new pg.Pool({ connectionString: db.url, max: 2 });
    pool = new pg.Pool({ connectionString: db.url, max: 4, Client: RecordingClient as unknown as typeof pg.Client });
    await migrate(plain);
    const jobs = createJobsBackend(plain);
    await createJobTable(plain).ensureSchema(jobs.createAgendaSchema);
    await seedHistory(plain);
  });

  after(async () => {
    await pool?.end();
    await plain?.end();
    await db?.drop();
  });

  it('uses an index for every statement on a growing table', async () => {
    const store = repos(pool);
    await runEveryPath(store, pool);
    await plain.query('ANALYZE');

    const statements = new Map<string, Recorded>();
    for (const r of recorded) {
      if (!PLANNABLE.test(r.text)) continue;
      statements.set(`${r.text}\u0000${JSON.stringify(r.values)}`, r);
    }
    assert.ok(statements.size > 40, `only ${statements.size} statements recorded`);

    const problems: string[] = [];
    for (const r of statements.values()) {
      const { rows } = await plain.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${r.text}`, r.values);
      const allowed = ALLOWED[r.label];
      const scans = seqScans(rows[0]!['QUERY PLAN'][0]!.Plan).filter((t) => t !== allowed?.table);
      if (scans.length) problems.push(`${r.label}: Seq Scan on ${[...new Set(scans)].join(', ')}\n    ${r.text.replace(/\s+/g, ' ').slice(0, 240)}`);
    }
    assert.deepEqual(problems, [], `statements scanning a growing table:\n${problems.join('\n')}`);
  });
});

/** The repositories the service builds (pg-store.ts), on the recording pool. */
function repos(pool: pg.Pool): Store {
  return {
    agents: agentRepo(pool, 'plans-owner'),
    groups: groupRepo(pool),
    customers: customerRepo(pool),
    devices: deviceRepo(pool),
    callRequests: callRequestRepo(pool),
    notifications: notificationRepo(pool),
    challenges: challengeRepo(pool),
    tokens: tokenRepo(pool),
    sessions: sessionRepo(pool),
    callRecords: callRecordRepo(pool, 'plans-owner'),
    audit: auditRepo(pool),
    apiKeys: apiKeyRepo(pool),
    agentLogins: agentLoginRepo(pool),
    registrations: registrationRepo(pool),
    outbox: outboxRepo(pool),
    attemptLimits: attemptLimitRepo(pool),
    appStreams: appStreamRepo(pool),
  } as unknown as Store;
}

/**
 * History: HISTORY requests (most closed, a few hundred open in each state), an audit entry
 * each, a pending job for a third of them, and their tokens, sessions, call records,
 * notifications and challenges.
 */
async function seedHistory(pool: pg.Pool): Promise<void> {
  const db = await pool.connect();
  try {
    // Generated rows are consistent by construction: skip the per-row foreign key triggers.
    await db.query(`SET session_replication_role = replica`);
    await seedRows(db);
  } finally {
    await db.query(`RESET session_replication_role`).catch(() => undefined);
    db.release();
  }
}

async function seedRows(client: pg.PoolClient): Promise<void> {
  const db = client;
  const n = HISTORY;
  const agents = 200;
  const customers = n / 3;
  await db.query(`INSERT INTO agent_groups (id, name, time_zone, slot_minutes, callback_mode) VALUES ('hist-a', 'A', 'UTC', 30, 'agent_calls'), ('hist-b', 'B', 'UTC', 30, 'customer_calls')`);
  await db.query(
    `INSERT INTO agents (username, name, extension, availability, role, password_hash, sip_ha1, sip_realm)
     SELECT 'hist-' || i, 'Agent ' || i, (50000 + i)::text, 'available', 'agent', 'x', 'x', 'knock.localhost' FROM generate_series(1, $1) i`,
    [agents],
  );
  await db.query(
    `INSERT INTO customers (name, phone_e164, time_zone, external_ref)
     SELECT 'Customer ' || i, '+4477' || lpad(i::text, 8, '0'), 'Europe/London', 'hist-' || i FROM generate_series(1, $1) i`,
    [customers],
  );
  await db.query(
    `INSERT INTO devices (customer_id, label, public_key_jwk, key_thumbprint, credential_hash)
     SELECT id, 'Phone', '{"kty":"EC"}'::jsonb, 'hist-' || id, md5(id::text) || md5(id::text || 'c') FROM customers`,
  );
  // Open states only on the first rows, one per customer, so the one-open-per-pair index holds.
  await db.query(
    `WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM customers),
          a AS (SELECT array_agg(id ORDER BY id) AS ids FROM agents)
     INSERT INTO call_requests (reference, reason, customer_id, group_id, agent_id, state, answer_deadline,
                                scheduled_for, snooze_until, outcome, requested_at, created_by, updated_at, created_at)
     SELECT 'H-' || i, 'History', c.ids[(i - 1) % $2 + 1], CASE WHEN i % 2 = 0 THEN 'hist-a' ELSE 'hist-b' END, a.ids[(i - 1) % $3 + 1],
            s.state, now() - (i || ' minutes')::interval + interval '5 minutes',
            CASE WHEN s.state IN ('scheduled', 'due', 'prompted', 'agent_dialled') THEN now() + (i % 500 || ' minutes')::interval END,
            CASE WHEN s.state = 'snoozed' THEN now() + interval '10 minutes' END,
            CASE WHEN s.state IN ('ended', 'cancelled', 'expired') THEN 'completed' END,
            now() - (i || ' minutes')::interval, 'agent:hist', now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval
     FROM generate_series(1, $1) i CROSS JOIN c CROSS JOIN a
     CROSS JOIN LATERAL (SELECT CASE WHEN i <= 3000 THEN (ARRAY['requested', 'notified', 'snoozed', 'accepted', 'authenticated',
            'connecting', 'connected', 'scheduled', 'due', 'prompted', 'agent_dialled', 'expired'])[i % 12 + 1]
            WHEN i % 10 = 0 THEN 'cancelled' ELSE 'ended' END AS state) s`,
    [n, customers, agents],
  );
  await db.query(
    `INSERT INTO audit_log (seq, at, actor, action, subject, decision, reason, prev_hash, hash)
     SELECT k, now() - (($1 - k) || ' seconds')::interval, 'agent:hist', 'call_request.move', 'call_request:' || r.id, 'allow', 'history',
            md5((k - 1)::text) || md5((k - 1)::text || 'h'), md5(k::text) || md5(k::text || 'h')
     FROM (SELECT id, row_number() OVER (ORDER BY requested_at) AS k0 FROM call_requests) r
     CROSS JOIN LATERAL (VALUES (r.k0)) AS v(k)`,
    [n],
  );
  await db.query(
    `INSERT INTO agenda_jobs (name, priority, next_run_at, type, data, disabled, fork)
     SELECT CASE WHEN k % 9 = 0 THEN $1 WHEN k % 9 = 3 THEN $2 ELSE $3 END, 0, now() + ((k % 7200) || ' seconds')::interval, 'normal',
            jsonb_build_object('requestId', id::text), FALSE, FALSE
     FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM call_requests) r WHERE k % 3 = 0`,
    [JOB_NAMES.expire, JOB_NAMES.callback, JOB_NAMES.remind],
  );
  await db.query(
    `INSERT INTO issued_tokens (jti, call_request_id, customer_id, device_id, expires_at, consumed_at, dialog_id)
     SELECT 'hist-' || r.id, r.id, r.customer_id, d.id, r.requested_at + interval '10 minutes', r.requested_at, 'dlg-' || r.id
     FROM call_requests r JOIN devices d ON d.customer_id = r.customer_id`,
  );
  await db.query(
    `INSERT INTO auth_sessions (id, call_request_id, customer_id, device_id, auth_method, authenticated_at, created_at, revoked_at)
     SELECT 'hist-' || r.id, r.id, r.customer_id, d.id, 'pin', r.requested_at, r.requested_at, r.requested_at + interval '5 minutes'
     FROM call_requests r JOIN devices d ON d.customer_id = r.customer_id`,
  );
  await db.query(
    `INSERT INTO call_records (call_request_id, session_id, customer_id, agent_id, direction, started_at, answered_at, ended_at, outcome, owner, sip_dialogs)
     SELECT r.id, 'hist-' || r.id, r.customer_id, r.agent_id, 'inbound', r.requested_at, r.requested_at, r.requested_at + interval '4 minutes',
            'completed', 'hist-owner', ARRAY['dlg-' || r.id]
     FROM call_requests r`,
  );
  await db.query(
    `INSERT INTO notifications (id, call_request_id, kind, channel, device_id, status, created_at)
     SELECT gen_random_uuid(), r.id, 'knock', 'webpush', d.id, 'sent', r.requested_at
     FROM call_requests r JOIN devices d ON d.customer_id = r.customer_id`,
  );
  await db.query(
    `INSERT INTO challenges (id, device_id, call_request_id, purpose, value, expires_at, used_at)
     SELECT 'hist-' || r.id, d.id, r.id, 'accept', 'v', r.requested_at + interval '2 minutes', r.requested_at
     FROM call_requests r JOIN devices d ON d.customer_id = r.customer_id`,
  );
}

/** The calls each part of the product makes, as the flows make them. */
async function runEveryPath(store: Store, pool: pg.Pool): Promise<void> {
  const now = new Date();
  const later = (ms: number) => new Date(now.getTime() + ms);
  const group = await makeGroup(store);
  const agent = await makeAgent(store, [group.id]);
  const customer = await makeCustomer(store);
  const credential = randomBytes(32).toString('hex');
  const device = await makeDevice(store, customer.id, credential);
  const entry = (reason: string) => ({ actor: `agent:${agent.id}`, action: 'call_request.move', subject: `call_request:${randomUUID()}`, decision: 'allow' as const, reason });

  // The console: a knock (the request, its audit entry, its jobs and outbox row in one transaction).
  const outboxId = randomUUID();
  const { request } = await as('callRequests.create (knock)', () =>
    store.callRequests.create(
      newRequest(agent.id, customer.id, { groupId: group.id, idempotencyKey: `k-${randomUUID()}` }),
      (id) => [{ ...entry('knock'), subject: `call_request:${id}` }],
      () => ({ setJobs: [{ name: 'request.expire', at: later(300_000) }], notify: [{ id: outboxId, kind: 'knock' }] }),
    ),
  );
  await as('outbox.claim', () => store.outbox.claim([outboxId], now));
  await as('outbox.done', () => store.outbox.done(outboxId));
  await as('outbox.claimDue (drainer)', () => store.outbox.claimDue(now, 50));
  await as('notifications.record', () => store.notifications.record({ id: randomUUID(), callRequestId: request.id, kind: 'knock', replacesId: null, channel: 'webpush', deviceId: device.id, status: 'sent', error: null } as never));
  await as('notifications.listFor', () => store.notifications.listFor(request.id));
  const notified = await as('callRequests.update (notify)', () =>
    store.callRequests.update(request.id, request.version, { ...request, state: 'notified' }, entry('notified'), { setJobs: [{ name: 'request.expire', at: later(300_000) }] }),
  );

  // The console's lists and queues.
  await as('callRequests.get', () => store.callRequests.get(request.id));
  await as('callRequests.list (all)', () => store.callRequests.list({ limit: 100 }));
  await as('callRequests.list (all, newest first)', () => store.callRequests.list({ limit: 100, order: 'newest' }));
  await as('callRequests.list (mine, newest first)', () => store.callRequests.list({ agentId: agent.id, limit: 100, order: 'newest' }));
  await as('callRequests.list (queues)', () => store.callRequests.list({ states: ['requested', 'notified', 'accepted', 'authenticated', 'snoozed'], limit: 1000 }));
  await as('callRequests.list (callbacks)', () => store.callRequests.list({ states: ['scheduled', 'due', 'prompted', 'agent_dialled'], limit: 500 }));
  await as('callRequests.list (callbacks of an agent)', () => store.callRequests.list({ agentId: agent.id, states: ['scheduled', 'due', 'prompted', 'agent_dialled'], limit: 500 }));
  await as('callRequests.list (mine)', () => store.callRequests.list({ agentId: agent.id, limit: 100 }));
  await as('callRequests.list (group queue)', () => store.callRequests.list({ groupId: group.id, states: ['scheduled', 'due'], limit: 200 }));
  await as('callRequests.list (slots booked)', () => store.callRequests.list({ groupId: group.id, states: ['scheduled'], limit: 10_000 }));
  await as('callRequests.countScheduledBetween', () => store.callRequests.countScheduledBetween(group.id, now, later(3_600_000)));
  await as('callRecords.list (history)', () => store.callRecords.list({ limit: 100 }));
  await as('callRecords.list (agent)', () => store.callRecords.list({ agentId: agent.id, limit: 5 }));
  await as('callRecords.list (request)', () => store.callRecords.list({ callRequestId: request.id, limit: 20 }));
  await as('audit.list (subject)', () => store.audit.list({ subject: `call_request:${request.id}`, limit: 100 }));
  await as('audit.list (after)', () => store.audit.list({ afterSeq: 100, limit: 100 }));
  await as('agents.getByExtension', () => store.agents.getByExtension(agent.extension));
  await as('agents.list', () => store.agents.list({ groupId: group.id }));

  // The app: its requests, an accept (the move with its audit entry and challenge), authentication.
  await as('devices.getByCredentialHashWithRequest', () => store.devices.getByCredentialHashWithRequest(credential, request.id));
  await as('callRequests.list (app)', () => store.callRequests.list({ customerId: customer.id, states: ['notified', 'snoozed', 'accepted', 'authenticated', 'expired', 'scheduled', 'prompted', 'agent_dialled'], limit: 50 }));
  const challengeId = `ch-${randomUUID()}`;
  const accepted = await as('callRequests.updateIssuingChallenge (accept)', () =>
    store.callRequests.updateIssuingChallenge(
      request.id,
      notified!.version,
      { ...notified!, state: 'accepted', acceptedDeviceId: device.id, holdUntil: later(120_000) },
      entry('accepted'),
      { id: challengeId, deviceId: device.id, callRequestId: request.id, purpose: 'accept', value: 'v', expiresAt: later(60_000) } as never,
      { dropJobs: ['request.expire'], setJobs: [{ name: 'request.lapse', at: later(120_000) }] },
    ),
  );
  await as('challenges.consume', () => store.challenges.consume(challengeId, device.id, now));
  const authenticated = await as('callRequests.update (authenticate)', () =>
    store.callRequests.update(request.id, accepted!.version, { ...accepted!, state: 'authenticated', authMethod: 'pin', authenticatedAt: now }, entry('authenticated')),
  );
  const jti = `jti-${randomUUID()}`;
  await as('tokens.record', () => store.tokens.record({ jti, callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt: later(60_000) } as never));
  const sessionId = `s-${randomUUID()}`;
  await as('sessions.create', () => store.sessions.create({ id: sessionId, callRequestId: request.id, customerId: customer.id, deviceId: device.id, authMethod: 'pin', authenticatedAt: now } as never));

  // The SIP path: the INVITE's token check, the call setup, the agent's phone, the call record.
  await as('tokens.admissionContext', () => store.tokens.admissionContext(device.id, customer.id, request.id));
  await as('callRequests.updateSpendingToken', () =>
    store.callRequests.updateSpendingToken(request.id, authenticated!.version, { ...authenticated!, state: 'connecting' }, [entry('token ok')], { jti, dialogId: `dlg-${randomUUID()}`, now }),
  );
  await as('tokens.consume', () => store.tokens.consume(`jti-${randomUUID()}`, 'dlg-x', now));
  await as('tokens.get', () => store.tokens.get(jti));
  await as('sessions.get', () => store.sessions.get(sessionId));
  await as('registrations.list', () => store.registrations.list(agent.extension, now));
  await as('agents.reserve', () => store.agents.reserve(agent.id));
  const dialog = `dlg-${randomUUID()}`;
  const record = await as('callRecords.create', () =>
    store.callRecords.create({ callRequestId: request.id, sessionId, customerId: customer.id, agentId: agent.id, direction: 'inbound', startedAt: now, answeredAt: null, endedAt: null, outcome: null, verification: 'token', owner: 'plans-owner', mediaChannels: [], sipDialogs: [dialog], sipInvites: [] } as never),
  );
  await as('callRecords.addLegs', () => store.callRecords.addLegs(record.id, { sipDialogs: [`dlg-${randomUUID()}`] }));
  await as('callRecords.findOpenByDialog', () => store.callRecords.findOpenByDialog(dialog));
  await as('callRecords.listOpen', () => store.callRecords.listOpen(['plans-owner']));
  await as('callRecords.close', () => store.callRecords.close(record.id, now, 'completed'));
  await as('sessions.revoke', () => store.sessions.revoke(sessionId, now));
  await as('agents.release', () => store.agents.release(agent.id, now, false));

  // Reconcilers and housekeeping.
  await as('callRequests.listStuckInSetup', () => store.callRequests.listStuckInSetup('connecting', later(-60_000), 100));
  await as('callRequests.jobGaps', () => store.callRequests.jobGaps(JOB_RULES, 100));
  await as('sessions.revokeEnded', () => store.sessions.revokeEnded(now));
  await as('sessions.revokeStale', () => store.sessions.revokeStale(later(-12 * 3_600_000), now));
  await as('agents.freeWithoutCall', () => store.agents.freeWithoutCall(['gone-owner'], later(-600_000), now));
  await as('tokens.purgeExpired', () => store.tokens.purgeExpired(later(-86_400_000)));
  await as('challenges.purgeExpired', () => store.challenges.purgeExpired(later(-86_400_000)));

  // The job runner: a claim of due jobs (Agenda's lock, batched), and a request's jobs.
  const jobs = createJobsBackend(pool);
  const table = createJobTable(pool);
  for (const name of [JOB_NAMES.expire, JOB_NAMES.callback]) {
    await as(`job claim (${name})`, () => jobs.backend.repository.getNextJobToRun(name, now, later(-600_000), now, { lastModifiedBy: 'plans' } as never));
  }
  await as('jobs.pendingFor', () => table.pendingFor(request.id));
  await as('jobs.replaceForRequest', () => table.replaceForRequest('request.remind', request.id, later(60_000), 'plans'));
  await as('jobs.cancelForRequest', () => table.cancelForRequest(request.id));
  await as('jobs.releaseUnstartedLocks', () => table.releaseUnstartedLocks('plans'));
  await jobs.closeGate();
}
