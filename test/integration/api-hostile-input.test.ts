/**
 * The HTTP API against hostile input, as an outside tester tries it on the running service with
 * real PostgreSQL: security headers, credentials kept out of caches, the metrics endpoint closed,
 * no schema names in errors, text with NUL or invalid UTF-8, oversized and reused
 * Idempotency-Keys, unbounded list limits, and Web Push endpoints that point inside the network.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { issueEnrollmentCode } from '../../src/flows/enrollment.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PIN = '482916';

describe('the HTTP API against hostile input', function () {
  this.timeout(60_000);
  let t: TestService;
  let admin: string;
  let anna: string;
  let ben: string;

  async function login(username: string, password: string) {
    const res = await t.call('POST', '/api/v1/auth/login', { body: { username, password } });
    assert.equal(res.status, 200, res.text);
    return res.body.token as string;
  }

  async function newCustomer(name: string) {
    const created = await t.call('POST', '/api/v1/customers', { token: admin, body: { name, timeZone: 'UTC' } });
    assert.equal(created.status, 201, created.text);
    return created.body.id as string;
  }

  async function enrolledDevice(customerId: string) {
    const code = await t.call('POST', `/api/v1/customers/${customerId}/enrollment-codes`, { token: admin });
    assert.equal(code.status, 201, code.text);
    const key = new SoftDeviceKey();
    const enrolled = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'Phone', publicKeyJwk: key.publicJwk, pin: PIN } });
    assert.equal(enrolled.status, 201, enrolled.text);
    return { credential: enrolled.body.credential as string, deviceId: enrolled.body.device.id as string, key, enrolled };
  }

  before(async () => {
    t = await startTestService();
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'support', name: 'Support', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'root', name: 'Root Admin', extension: '3000', password: 'root-password-1', groups: [], role: 'admin' });
    await createAgent(deps, { username: 'anna', name: 'Anna Agent', extension: '3001', password: 'anna-password-1', groups: ['support'] });
    await createAgent(deps, { username: 'ben', name: 'Ben Agent', extension: '3002', password: 'ben-password-12', groups: ['support'] });
    admin = await login('root', 'root-password-1');
    anna = await login('anna', 'anna-password-1');
    ben = await login('ben', 'ben-password-12');
  });

  after(async () => {
    await t?.stop();
  });

  describe('security headers', () => {
    it('sends CSP, nosniff, frame and referrer policies on pages and API answers', async () => {
      for (const path of ['/app/', '/console/', '/api/v1/me', '/api/openapi.json', '/nowhere']) {
        const res = await t.call('GET', path);
        const csp = res.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'self'/, `${path}: ${csp}`);
        assert.match(csp, /frame-ancestors 'none'/, path);
        assert.match(csp, /object-src 'none'/, path);
        assert.match(csp, /script-src 'self'(;|$)/, path);
        assert.match(csp, /style-src 'self'(;|$)/, `${path}: no inline styles allowed`);
        // The app's call goes over a WebSocket to the SIP server, on another origin.
        assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:5062(;|$)/, path);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
        assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      }
    });

    it('the pages hold nothing inline that the policy would block', () => {
      const root = join(import.meta.dirname, '..', '..', 'src', 'web');
      const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
      for (const file of files(root)) {
        const text = readFileSync(file, 'utf8');
        if (file.endsWith('.html')) {
          assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/, `${file}: inline script`);
          assert.doesNotMatch(text, /<style|\sstyle=|\son[a-z]+=/i, `${file}: inline style or handler`);
        }
        if (file.endsWith('.js')) {
          assert.doesNotMatch(text, /\bstyle: '|setAttribute\('style'|\beval\(|new Function\(/, `${file}: inline style or eval`);
        }
      }
    });
  });

  describe('credentials are never cached', () => {
    it('answers sign-in, enrolment, codes, keys and tokens with Cache-Control: no-store', async () => {
      const res = await t.call('POST', '/api/v1/auth/login', { body: { username: 'anna', password: 'anna-password-1' } });
      assert.equal(res.headers.get('cache-control'), 'no-store', 'login');
      assert.equal(res.headers.get('pragma'), 'no-cache', 'login');

      const customerId = await newCustomer('Cache Customer');
      const code = await t.call('POST', `/api/v1/customers/${customerId}/enrollment-codes`, { token: admin });
      assert.equal(code.headers.get('cache-control'), 'no-store', 'enrollment code');
      const key = new SoftDeviceKey();
      const enrolled = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'Phone', publicKeyJwk: key.publicJwk, pin: PIN } });
      assert.equal(enrolled.status, 201, enrolled.text);
      assert.equal(enrolled.headers.get('cache-control'), 'no-store', 'device credential');

      const apiKey = await t.call('POST', '/api/v1/api-keys', { token: admin, body: { name: 'crm', scopes: ['requests:read'] } });
      assert.equal(apiKey.status, 201, apiKey.text);
      assert.equal(apiKey.headers.get('cache-control'), 'no-store', 'API key');

      // Token issue after authenticate (PIN path).
      const push = t.push.createSubscription();
      await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: enrolled.body.credential, body: push.subscription });
      const knock = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reason: 'Card check', reference: 'CASE-NS' } });
      assert.equal(knock.status, 201, knock.text);
      const challenge = await t.call('POST', `/api/v1/app/requests/${knock.body.id}/accept`, { token: enrolled.body.credential });
      assert.equal(challenge.status, 200, challenge.text);
      const issued = await t.call('POST', `/api/v1/app/requests/${knock.body.id}/authenticate`, {
        token: enrolled.body.credential,
        body: { challengeId: challenge.body.challengeId, method: 'pin', pin: PIN, signature: key.sign(challenge.body.challenge) },
      });
      assert.equal(issued.status, 200, issued.text);
      assert.equal(issued.headers.get('cache-control'), 'no-store', 'pre-authentication token');

      const reg = await t.call('POST', '/api/v1/devices/me/sip-registration', { token: enrolled.body.credential });
      assert.equal(reg.headers.get('cache-control'), 'no-store', 'registration token');
    });
  });

  describe('metrics', () => {
    it('are not served on the API port without the configured token', async () => {
      const open = await t.call('GET', '/metrics');
      assert.equal(open.status, 404, open.text);
      assert.doesNotMatch(open.text, /knock_http_requests_total/);
    });

    it('are served on the loopback metrics listener, and with a bearer token on the API port when one is set', async () => {
      const metricsUrl = t.service.metricsUrl;
      assert.ok(metricsUrl, 'the metrics listener runs');
      const scraped = await fetch(`${metricsUrl}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /knock_http_requests_total/);

      const withToken = await startTestService({ KNOCK_METRICS__TOKEN: 'scrape-secret-0123456789', KNOCK_METRICS__LISTEN: '' });
      try {
        assert.equal(withToken.service.metricsUrl, null);
        const none = await withToken.call('GET', '/metrics');
        assert.equal(none.status, 401, none.text);
        const wrong = await withToken.call('GET', '/metrics', { token: 'scrape-secret-0123456788' });
        assert.equal(wrong.status, 401, wrong.text);
        const ok = await withToken.call('GET', '/metrics', { token: 'scrape-secret-0123456789' });
        assert.equal(ok.status, 200, ok.text);
        assert.match(ok.text, /knock_http_requests_total/);
        assert.ok(!withToken.logs.join('\n').includes('scrape-secret-0123456789'), 'the token is never logged');
      } finally {
        await withToken.stop();
      }
    });
  });

  describe('errors name no schema objects', () => {
    it('answers a duplicate with product words, not the constraint', async () => {
      const customer = { name: 'Dup Customer', externalRef: 'CRM-DUP-1' };
      assert.equal((await t.call('POST', '/api/v1/customers', { token: admin, body: customer })).status, 201);
      const again = await t.call('POST', '/api/v1/customers', { token: admin, body: customer });
      // Two agents created at once both pass the look-up first; the database decides.
      const agent = { username: 'dup', name: 'Dup One', extension: '3100', password: 'dup-password-1' };
      const racing = await Promise.all([1, 2, 3].map(() => t.call('POST', '/api/v1/agents', { token: admin, body: agent })));
      const refused = racing.filter((r) => r.status !== 201);
      assert.equal(refused.length, 2, racing.map((r) => r.text).join('\n'));
      for (const res of [again, ...refused]) {
        assert.equal(res.status, 409, res.text);
        assert.doesNotMatch(res.text, /agents_|customers_|_key|constraint|violat|unique|table|column/i, res.text);
        assert.match(res.body.detail, /already/);
      }
    });
  });

  describe('text with NUL or invalid UTF-8', () => {
    it('answers 400 invalid_text naming the field, for bodies, queries and paths', async () => {
      const cases: Array<{ method: string; path: string; token?: string; body?: unknown; field: string }> = [
        { method: 'POST', path: '/api/v1/auth/login', body: { username: 'an\u0000na', password: 'anna-password-1' }, field: 'username' },
        { method: 'GET', path: '/api/v1/customers?q=Ch%00ris', token: anna, field: 'q' },
        { method: 'POST', path: '/api/v1/customers', token: admin, body: { name: 'Lone \ud800 surrogate' }, field: 'name' },
        { method: 'PUT', path: '/api/v1/groups/sup%00port', token: admin, body: { name: 'x', timeZone: 'UTC', businessHours: {} }, field: 'path' },
      ];
      for (const c of cases) {
        const res = await t.call(c.method, c.path, { ...(c.token ? { token: c.token } : {}), ...(c.body ? { body: c.body } : {}) });
        assert.equal(res.status, 400, `${c.path}: ${res.text}`);
        assert.equal(res.body.code, 'invalid_text', res.text);
        assert.equal(res.body.field, c.field, res.text);
        assert.match(res.body.detail, new RegExp(c.field));
      }
      // Bytes that are not UTF-8 at all (fetch would encode a JS string as valid UTF-8).
      const bytes = Buffer.concat([Buffer.from('{"username":"an'), Buffer.from([0xff, 0xfe]), Buffer.from('na","password":"anna-password-1"}')]);
      const res = await fetch(`${t.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
      const problem = (await res.json()) as { code: string };
      assert.equal(res.status, 400);
      assert.equal(problem.code, 'invalid_text');
    });

    it('checks the raw bytes of query strings and paths, which the parsers would turn into U+FFFD', async () => {
      const cases: Array<{ path: string; field: string }> = [
        { path: '/api/v1/customers?q=Zed%FF', field: 'q' },
        { path: '/api/v1/customers?q=Zed%C0%AF', field: 'q' }, // overlong "/"
        { path: '/api/v1/customers?q=Zed%ED%A0%80', field: 'q' }, // an encoded surrogate
        { path: '/api/v1/customers?q=Zed%E2%80', field: 'q' }, // truncated
        { path: '/api/v1/customers?q=Zed&q%FF=1', field: 'query' },
        { path: '/api/v1/customers?q%00=a', field: 'query' },
        { path: '/api/v1/call-requests?state=a%FF&limit=5', field: 'state' },
        { path: '/api/v1/customers/%FF', field: 'path' },
        { path: '/api/v1/customers/%E2%80', field: 'path' },
        { path: '/api/v1/customers/a%zz', field: 'path' }, // a malformed escape
      ];
      for (const c of cases) {
        const res = await t.call('GET', c.path, { token: admin });
        assert.equal(res.status, 400, `${c.path}: ${res.text}`);
        assert.equal(res.body.code, 'invalid_text', `${c.path}: ${res.text}`);
        assert.equal(res.body.field, c.field, `${c.path}: ${res.text}`);
      }
      // Valid UTF-8, escaped or not, and + for a space still pass.
      for (const path of ['/api/v1/customers?q=Z%C3%A9d', '/api/v1/customers?q=Zed+Smith', `/api/v1/customers?q=${encodeURIComponent('€😀')}`]) {
        const res = await t.call('GET', path, { token: admin });
        assert.equal(res.status, 200, `${path}: ${res.text}`);
      }
    });

    it('refuses a NUL in a knock reason and a schedule note before anything is written', async () => {
      const customerId = await newCustomer('Nul Customer');
      const device = await enrolledDevice(customerId);
      await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: device.credential, body: t.push.createSubscription().subscription });
      const bad = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reason: 'Card\u0000check', reference: 'CASE-NUL' } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.body.field, 'reason');
      const list = await t.call('GET', '/api/v1/call-requests?scope=mine', { token: anna });
      assert.ok(!list.body.items.some((r: { reference: string }) => r.reference === 'CASE-NUL'), 'nothing was written');
      const knock = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reason: 'Card check', reference: 'CASE-NUL' } });
      assert.equal(knock.status, 201, knock.text);
      const note = await t.call('POST', `/api/v1/app/requests/${knock.body.id}/schedule`, {
        token: device.credential,
        body: { at: new Date(Date.now() + 3 * 3600_000).toISOString(), note: 'after\u0000lunch' },
      });
      assert.equal(note.status, 400, note.text);
      assert.equal(note.body.field, 'note');
    });

    it('keeps the enrollment code usable after a label with NUL', async () => {
      const deps = t.service.deps;
      const customer = await createCustomer(deps, { name: 'Code Keeper', phone: null, timeZone: 'UTC', externalRef: null });
      const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
      const key = new SoftDeviceKey();
      const bad = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code, label: 'Ph\u0000one', publicKeyJwk: key.publicJwk, pin: PIN } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.body.code, 'invalid_text');
      assert.equal(bad.body.field, 'label');
      const good = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code, label: 'Phone', publicKeyJwk: key.publicJwk, pin: PIN } });
      assert.equal(good.status, 201, good.text);
    });
  });

  describe('deeply nested JSON', () => {
    it('answers 400 validation_failed, not a crash, on public and signed-in routes', async () => {
      const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
      const cases: Array<{ method: string; path: string; token?: string; rawBody: string }> = [
        { method: 'POST', path: '/api/v1/auth/login', rawBody: deep(4000) },
        { method: 'POST', path: '/api/v1/auth/login', rawBody: '{"a":'.repeat(4000) + '1' + '}'.repeat(4000) },
        { method: 'POST', path: '/api/v1/auth/login', rawBody: `{"username":${deep(4000)},"password":"x"}` },
        { method: 'POST', path: '/api/v1/devices', rawBody: `{"label":${deep(33)}}` },
        { method: 'POST', path: '/api/v1/customers', token: admin, rawBody: `{"name":"x","extra":${deep(20000)}}` },
      ];
      for (const c of cases) {
        const res = await t.call(c.method, c.path, { rawBody: c.rawBody, headers: { 'content-type': 'application/json' }, ...(c.token ? { token: c.token } : {}) });
        assert.equal(res.status, 400, `${c.rawBody.slice(0, 40)}: ${res.text.slice(0, 300)}`);
        assert.equal(res.body.code, 'validation_failed', res.text.slice(0, 300));
        assert.match(res.body.detail, /nested too deeply/);
      }
      // Shallow bodies are untouched: the documented ones go a few levels down at most.
      const ok = await t.call('POST', '/api/v1/auth/login', { rawBody: `{"username":"anna","password":"anna-password-1"}`, headers: { 'content-type': 'application/json' } });
      assert.equal(ok.status, 200, ok.text);
    });
  });

  describe('Idempotency-Key', () => {
    let customerA: string;
    let customerB: string;
    before(async () => {
      customerA = await newCustomer('Idem A');
      customerB = await newCustomer('Idem B');
      for (const id of [customerA, customerB]) {
        const d = await enrolledDevice(id);
        await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: d.credential, body: t.push.createSubscription().subscription });
      }
    });

    it('refuses an oversized or non-printable key with 400 naming the header', async () => {
      for (const key of ['k'.repeat(8000), 'k'.repeat(256), 'tab\there']) {
        const res = await t.call('POST', '/api/v1/call-requests', {
          token: anna,
          headers: { 'Idempotency-Key': key },
          body: { customerId: customerA, reason: 'Card check', reference: 'CASE-IK' },
        });
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.code, 'validation_failed');
        assert.match(res.body.detail, /Idempotency-Key/);
      }
      const ok = await t.call('POST', '/api/v1/call-requests', {
        token: anna,
        headers: { 'Idempotency-Key': 'k'.repeat(255) },
        body: { customerId: customerA, reason: 'Card check', reference: 'CASE-IK' },
      });
      assert.equal(ok.status, 201, ok.text);
      await t.call('POST', `/api/v1/call-requests/${ok.body.id}/cancel`, { token: anna });
    });

    it('returns the original for the same body, 422 for another body, and never another caller’s request', async () => {
      const headers = { 'Idempotency-Key': 'order-77' };
      const first = await t.call('POST', '/api/v1/call-requests', { token: anna, headers, body: { customerId: customerA, reason: 'Card check', reference: 'CASE-I1' } });
      assert.equal(first.status, 201, first.text);
      const again = await t.call('POST', '/api/v1/call-requests', { token: anna, headers, body: { reference: 'CASE-I1', reason: 'Card check', customerId: customerA } });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.id, first.body.id);

      const other = await t.call('POST', '/api/v1/call-requests', { token: anna, headers, body: { customerId: customerB, reason: 'Loan check', reference: 'CASE-I2' } });
      assert.equal(other.status, 422, other.text);
      assert.equal(other.body.code, 'idempotency_key_reused');
      assert.doesNotMatch(other.text, new RegExp(first.body.id));

      const bens = await t.call('POST', '/api/v1/call-requests', { token: ben, headers, body: { customerId: customerB, reason: 'Loan check', reference: 'CASE-I2' } });
      assert.equal(bens.status, 201, bens.text);
      assert.notEqual(bens.body.id, first.body.id);
    });
  });

  describe('list limits', () => {
    it('refuses limits above the documented caps with 400 and uses bounded defaults', async () => {
      const customerId = await newCustomer('Limit Customer');
      const device = await enrolledDevice(customerId);
      await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: device.credential, body: t.push.createSubscription().subscription });
      const knock = await t.call('POST', '/api/v1/call-requests', { token: ben, body: { customerId, reason: 'Card check', reference: 'CASE-LIM' } });
      assert.equal(knock.status, 201, knock.text);

      const tooMany = await t.call('GET', `/api/v1/app/requests/${knock.body.id}/slots?limit=2000`, { token: device.credential });
      assert.equal(tooMany.status, 400, tooMany.text.slice(0, 300));
      assert.match(tooMany.body.detail, /limit/);
      const byDefault = await t.call('GET', `/api/v1/app/requests/${knock.body.id}/slots`, { token: device.credential });
      assert.equal(byDefault.status, 200, byDefault.text);
      assert.equal(byDefault.body.slots.length, 100);
      const atCap = await t.call('GET', `/api/v1/app/requests/${knock.body.id}/slots?limit=200`, { token: device.credential });
      assert.equal(atCap.body.slots.length, 200);

      // A scalar parameter given as an array or an object is not quietly ignored.
      for (const path of ['/api/v1/call-requests?limit[]=100000', '/api/v1/call-requests?limit[x]=5', '/api/v1/call-requests?limit[]=abc', '/api/v1/call-requests?limit=5&limit=6', '/api/v1/customers?q[]=Zed', '/api/v1/call-records?limit[0]=1']) {
        const res = await t.call('GET', path, { token: admin });
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.equal(res.body.code, 'validation_failed', res.text);
        assert.match(res.body.detail, /(limit|q): must be a single value/, res.text);
      }
      for (const path of ['/api/v1/call-requests?limit=201', '/api/v1/call-records?limit=201', `/api/v1/customers?q=${'x'.repeat(101)}`]) {
        const res = await t.call('GET', path, { token: admin });
        assert.equal(res.status, 400, `${path}: ${res.text}`);
      }
    });
  });

  describe('Web Push endpoints', () => {
    let credential: string;
    let deviceId: string;
    let customerId: string;
    before(async () => {
      customerId = await newCustomer('Push Customer');
      ({ credential, deviceId } = await enrolledDevice(customerId));
    });

    it('refuses endpoints that are not https to a public host, with the reason', async () => {
      const keys = t.push.createSubscription().subscription.keys;
      const refused = [
        'http://push.example.com/send/1',
        'http://127.0.0.1:9/x',
        `${t.push.origin.replace('127.0.0.1', 'localhost')}/x`,
        'https://127.0.0.1/x',
        'https://169.254.169.254/latest/meta-data',
        'https://10.1.2.3/x',
        'https://192.168.0.1/x',
        'https://[::1]/x',
        'https://[fe80::1]/x',
        'https://[::ffff:127.0.0.1]/x',
        'https://[::127.0.0.1]/x',
        'https://[::a9fe:a9fe]/x',
        'https://[3fff::1]/x',
        `${t.push.origin.replace('://', '://user@')}/x`,
        'https://0.0.0.0/x',
        'https://localhost/x',
        'not a url',
      ];
      for (const endpoint of refused) {
        const res = await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: credential, body: { endpoint, keys } });
        assert.equal(res.status, 400, `${endpoint}: ${res.text}`);
        assert.equal(res.body.code, 'validation_failed');
        assert.match(res.body.detail, /endpoint/);
      }
      // The fake push service is on the configured allow-list.
      const allowed = await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: credential, body: t.push.createSubscription().subscription });
      assert.equal(allowed.status, 204, allowed.text);
    });

    it('does not connect to an endpoint whose name resolves to a special address when sending', async () => {
      let connections = 0;
      const listener = net.createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((ok) => listener.listen(0, '127.0.0.1', ok));
      const port = (listener.address() as net.AddressInfo).port;
      try {
        // Stored as if the name had pointed elsewhere when the device registered it.
        const sub = t.push.createSubscription().subscription;
        await t.service.deps.store.devices.setPushSubscription(deviceId, { endpoint: `https://localhost:${port}/send`, keys: sub.keys });
        const knock = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId, reason: 'Card check', reference: 'CASE-SSRF' } });
        assert.equal(knock.status, 422, knock.text);
        assert.equal(knock.body.code, 'no_reachable_device');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(connections, 0, 'the service connected to a loopback address');
      } finally {
        listener.close();
      }
    });
  });
});
