/**
 * Attempt limits under parallel requests and across instances: agent sign-in per username and
 * enrollment codes per source address are counted in PostgreSQL before anything is checked, so a
 * burst sent at once is limited like the same attempts sent one by one. Real service, real
 * database, two instances on it.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createAgent, createCustomer } from '../../src/flows/directory.js';
import { issueEnrollmentCode } from '../../src/flows/enrollment.js';
import { startService, type RunningService } from '../../src/service.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PASSWORD = 'right-password-1';

describe('attempt limits held in the database', function () {
  this.timeout(120_000);
  let t: TestService;
  let second: RunningService;

  before(async () => {
    t = await startTestService({ KNOCK_AUTH__LOGIN_ATTEMPTS_PER_MINUTE: '10', KNOCK_AUTH__ENROLLMENT_ATTEMPTS_PER_HOUR: '8' });
    // A second instance on the same database: the limits must be shared, not per process.
    second = await startService(t.config, { logger: pino({ level: 'silent' }), runJobs: false, instanceName: 'second' });
  });
  after(async () => {
    await second?.stop();
    await t?.stop();
  });

  const post = (base: string, path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (res) => ({
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json().catch(() => null)) as any,
    }));

  async function auditRows(action: string) {
    return (await t.service.deps.store.audit.list({ limit: 100_000 })).filter((e) => e.action === action && e.decision === 'deny');
  }

  it('agent sign-in: 50 wrong passwords sent at once to two instances check at most 10', async () => {
    await createAgent(t.service.deps, { username: 'erin', name: 'Erin', extension: '1201', password: PASSWORD, groups: [] });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => post(i % 2 ? second.url! : t.url, '/api/v1/auth/login', { username: 'erin', password: `wrong-${i}-password` })),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 10, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 40, statuses.join(','));
    for (const r of results.filter((x) => x.status === 429)) {
      assert.equal(r.body.code, 'rate_limited');
      assert.ok(Number(r.retryAfter) >= 1 && Number(r.retryAfter) <= 60, String(r.retryAfter));
    }
    // The right password is not checked either until the minute is over.
    assert.equal((await post(t.url, '/api/v1/auth/login', { username: 'erin', password: PASSWORD })).status, 429);
    const limited = (await auditRows('agent.login')).filter((e) => e.actor === 'login:erin' && /refused unchecked/.test(e.reason));
    assert.equal(limited.length, 1, 'the limiting is audited once per window');
  });

  it('agent sign-in: a right password clears the count; other usernames are not affected', async () => {
    await createAgent(t.service.deps, { username: 'finn', name: 'Finn', extension: '1202', password: PASSWORD, groups: [] });
    for (let i = 0; i < 9; i++) assert.equal((await post(t.url, '/api/v1/auth/login', { username: 'finn', password: 'wrong-password-x' })).status, 401);
    assert.equal((await post(second.url!, '/api/v1/auth/login', { username: 'finn', password: PASSWORD })).status, 200);
    for (let i = 0; i < 10; i++) assert.equal((await post(t.url, '/api/v1/auth/login', { username: 'finn', password: 'wrong-password-x' })).status, 401);
    assert.equal((await post(t.url, '/api/v1/auth/login', { username: 'finn', password: 'wrong-password-x' })).status, 429);
  });

  it('enrollment codes: guesses from one address are limited, audited once per window, across instances', async () => {
    const deps = t.service.deps;
    const customer = await createCustomer(deps, { name: 'Gail', phone: null, timeZone: null, externalRef: null });
    const enrol = (base: string, code: string) => post(base, '/api/v1/devices', { enrollmentCode: code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });

    // A right code does not use up the address's allowance.
    const good = await issueEnrollmentCode(deps, customer.id, 'test');
    assert.equal((await enrol(t.url, good.code)).status, 201);

    const before = (await auditRows('device.enroll')).length;
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => enrol(i % 2 ? second.url! : t.url, `AAAAA-${String(i).padStart(5, 'B')}`)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 8, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 52, statuses.join(','));
    const limited = results.find((r) => r.status === 429)!;
    assert.equal(limited.body.code, 'rate_limited');
    assert.ok(Number(limited.retryAfter) > 60 && Number(limited.retryAfter) <= 3600, String(limited.retryAfter));

    const rows = (await auditRows('device.enroll')).slice(before);
    assert.equal(rows.length, 9, rows.map((r) => r.reason).join('\n'));
    assert.equal(rows.filter((r) => /refused unchecked/.test(r.reason)).length, 1);

    // Even a right code waits for the window to end: it is not looked at.
    const another = await issueEnrollmentCode(deps, customer.id, 'test');
    assert.equal((await enrol(t.url, another.code)).status, 429);
  });
});

/**
 * Right answers are never refused or counted by the limits: a place held by an answer still
 * being checked is waited for, refusals take no place, and a 429 says the limit is full of failures.
 */
describe('attempt limits never refuse right answers', function () {
  this.timeout(120_000);
  let t: TestService;
  let second: RunningService;
  let address = 0;

  before(async () => {
    // One proxy in front, so each test can send from its own address (X-Forwarded-For).
    t = await startTestService({ KNOCK_AUTH__LOGIN_ATTEMPTS_PER_MINUTE: '10', KNOCK_AUTH__ENROLLMENT_ATTEMPTS_PER_HOUR: '20', KNOCK_SERVER__TRUST_PROXY: '1' });
    second = await startService(t.config, { logger: pino({ level: 'silent' }), runJobs: false, instanceName: 'second' });
  });
  after(async () => {
    await second?.stop();
    await t?.stop();
  });

  const post = (base: string, path: string, body: unknown, from = '198.51.100.1') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify(body) }).then(async (res) => ({
      status: res.status,
      body: (await res.json().catch(() => null)) as any,
    }));
  const base = (i: number) => (i % 2 ? second.url! : t.url);
  const count = (rs: Array<{ status: number }>, status: number) => rs.filter((r) => r.status === status).length;
  const show = (rs: Array<{ status: number; body: any }>) => rs.map((r) => `${r.status} ${r.body?.detail ?? ''}`).join('\n');
  const login = (i: number, username: string, password: string) => post(base(i), '/api/v1/auth/login', { username, password });

  it('agent sign-in: twenty right passwords at once are all signed in', async () => {
    await createAgent(t.service.deps, { username: 'gus', name: 'Gus', extension: '1211', password: PASSWORD, groups: [] });
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => login(i, 'gus', PASSWORD)));
    assert.equal(count(rs, 200), 20, show(rs));
  });

  it('agent sign-in: after 9 wrong passwords, twenty right ones at once are all signed in; the count is cleared', async () => {
    await createAgent(t.service.deps, { username: 'hal', name: 'Hal', extension: '1212', password: PASSWORD, groups: [] });
    for (let i = 0; i < 9; i++) assert.equal((await login(i, 'hal', 'wrong-password-x')).status, 401);
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => login(i, 'hal', PASSWORD)));
    assert.equal(count(rs, 200), 20, show(rs));
    // Cleared: ten wrong ones are checked again before the limit refuses.
    const wrong = await Promise.all(Array.from({ length: 15 }, (_, i) => login(i, 'hal', 'wrong-password-x')));
    assert.equal(count(wrong, 401), 10, show(wrong));
    assert.equal(count(wrong, 429), 5, show(wrong));
    assert.ok(wrong.filter((r) => r.status === 429).every((r) => /Too many failed sign-ins/.test(r.body.detail)), show(wrong));
  });

  const codes = async (n: number) => {
    const customer = await createCustomer(t.service.deps, { name: 'Kim', phone: null, timeZone: null, externalRef: null });
    return Promise.all(Array.from({ length: n }, () => issueEnrollmentCode(t.service.deps, customer.id, 'test').then((c) => c.code)));
  };
  const enrol = (i: number, code: string, from: string) =>
    post(base(i), '/api/v1/devices', { enrollmentCode: code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: null }, from);

  it('enrollment codes: thirty right codes at once from one address are all enrolled', async () => {
    const from = `203.0.113.${++address}`;
    const rs = await Promise.all((await codes(30)).map((c, i) => enrol(i, c, from)));
    assert.equal(count(rs, 201), 30, show(rs));
  });

  it('enrollment codes: after 19 wrong codes, twenty right ones at once are enrolled, and right ones still are after', async () => {
    const from = `203.0.113.${++address}`;
    for (let i = 0; i < 19; i++) assert.equal((await enrol(i, `AAAAA-${String(i).padStart(5, 'C')}`, from)).status, 401);
    const rs = await Promise.all((await codes(20)).map((c, i) => enrol(i, c, from)));
    assert.equal(count(rs, 201), 20, show(rs));
    for (const c of await codes(3)) assert.equal((await enrol(0, c, from)).status, 201);
    // Only wrong codes count: the 20th wrong one is checked, then the address is refused.
    assert.equal((await enrol(0, 'AAAAA-DDDDD', from)).status, 401);
    const refused = await enrol(1, (await codes(1))[0]!, from);
    assert.equal(refused.status, 429);
    assert.match(refused.body.detail, /Too many wrong enrollment codes/);
  });

  it('enrollment codes: fifty wrong codes at once check at most 20; right ones sent with them are enrolled', async () => {
    const from = `203.0.113.${++address}`;
    const good = await codes(10);
    const rs = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 6 === 0 ? enrol(i, good[i / 6]!, from) : enrol(i, `AAAAA-${String(i).padStart(5, 'E')}`, from))),
    );
    const right = rs.filter((_, i) => i % 6 === 0);
    const wrong = rs.filter((_, i) => i % 6 !== 0);
    assert.equal(count(right, 201) + count(right, 429), 10, show(right));
    assert.equal(count(wrong, 401), 20, show(wrong));
    assert.equal(count(wrong, 429), 30, show(wrong));
  });
});
