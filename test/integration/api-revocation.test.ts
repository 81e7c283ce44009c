/**
 * Revoking a lost phone (by the customer in the app, by an agent) and a leaked API key: at once,
 * audited, and for everything the credential could do, including a token issued before the
 * revocation and presented at call setup. Real service, real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { AppError } from '../../src/domain/errors.js';
import { createAgent } from '../../src/flows/directory.js';
import { admitCustomerCall } from '../../src/flows/call-session.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { deviceProofFor, enrolPhone, tokenJti, type EnrolledPhone } from '../support/verified-customer.js';

const PIN = '482916';

describe('revoking devices and API keys', function () {
  this.timeout(120_000);
  let t: TestService;
  let admin: string;
  let agent: string;

  before(async () => {
    t = await startTestService();
    const deps = t.service.deps;
    await createAgent(deps, { username: 'kim', name: 'Kim', extension: '1401', password: 'kim-password-01', groups: [], role: 'admin' });
    await createAgent(deps, { username: 'lou', name: 'Lou', extension: '1402', password: 'lou-password-01', groups: [] });
    admin = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'kim', password: 'kim-password-01' } })).body.token;
    agent = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'lou', password: 'lou-password-01' } })).body.token;
  });
  after(async () => t?.stop());

  async function customerWithTwoPhones() {
    const customer = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Mia', phone: '+447700900125' } });
    const customerId = customer.body.id as string;
    const a = await enrolPhone(t, admin, customerId, PIN);
    const b = await enrolPhone(t, admin, customerId, PIN);
    return { customerId, a, b };
  }

  async function auditFor(subject: string, action: string) {
    return (await t.service.deps.store.audit.list({ subject })).filter((e) => e.action === action);
  }

  /** Everything a device credential is for, each answered 401 once the device is revoked. */
  async function assertLockedOut(phone: EnrolledPhone, requestId: string) {
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/api/v1/devices/me'],
      ['GET', '/api/v1/devices'],
      ['POST', '/api/v1/devices/me/sip-registration'],
      ['PUT', '/api/v1/devices/me/push-subscription', t.push.createSubscription().subscription],
      ['POST', '/api/v1/devices/me/pin/challenge'],
      ['POST', `/api/v1/app/requests/${requestId}/accept`],
      ['GET', '/api/v1/app/requests'],
    ];
    for (const [method, path, body] of calls) {
      const res = await t.call(method, path, { token: phone.credential, ...(body ? { body } : {}) });
      assert.equal(res.status, 401, `${method} ${path}: ${res.text}`);
    }
  }

  it("the customer lists their devices and revokes a lost one from another; it is locked out and not notified", async () => {
    const { customerId, a, b } = await customerWithTwoPhones();
    const list = await t.call('GET', '/api/v1/devices', { token: a.credential });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.items.map((d: any) => [d.id, d.current]), [[a.deviceId, true], [b.deviceId, false]]);

    // Another customer's device is not found from here.
    const other = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Ned', phone: null } });
    const stranger = await enrolPhone(t, admin, other.body.id, PIN);
    assert.equal((await t.call('DELETE', `/api/v1/devices/${stranger.deviceId}`, { token: a.credential })).status, 404);
    assert.equal((await t.call('GET', '/api/v1/devices/me', { token: stranger.credential })).status, 200);

    const revoked = await t.call('DELETE', `/api/v1/devices/${b.deviceId}`, { token: a.credential });
    assert.equal(revoked.status, 204, revoked.text);
    const entries = await auditFor(`device:${b.deviceId}`, 'device.revoke');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.actor, `device:${a.deviceId}`);
    assert.equal(entries[0]!.decision, 'allow');

    const knock = await t.call('POST', '/api/v1/call-requests', { token: admin, body: { customerId, reason: 'Card check', reference: 'REV-1' } });
    assert.equal(knock.status, 201, knock.text);
    await assertLockedOut(b, knock.body.id);
    assert.equal(b.push.payloads().length, 0, 'the revoked phone is not notified');
    assert.ok(a.push.payloads().length > 0, 'the phone still enrolled is');
    assert.deepEqual((await t.call('GET', '/api/v1/devices', { token: a.credential })).body.items.map((d: any) => d.id), [a.deviceId]);
    // Again: nothing changes, still 204.
    assert.equal((await t.call('DELETE', `/api/v1/devices/${b.deviceId}`, { token: a.credential })).status, 204);
  });

  it('the app can revoke itself', async () => {
    const { a } = await customerWithTwoPhones();
    assert.equal((await t.call('DELETE', `/api/v1/devices/${a.deviceId}`, { token: a.credential })).status, 204);
    assert.equal((await t.call('GET', '/api/v1/devices/me', { token: a.credential })).status, 401);
  });

  it('an agent revokes a device; a token issued before is refused at call setup as device_revoked, unspent and audited', async () => {
    const { customerId, a } = await customerWithTwoPhones();
    const knock = await t.call('POST', '/api/v1/call-requests', { token: agent, body: { customerId, reason: 'Card check', reference: 'REV-2' } });
    const requestId = knock.body.id as string;
    const c = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: a.credential });
    const issued = await t.call('POST', `/api/v1/app/requests/${requestId}/authenticate`, {
      token: a.credential,
      body: { challengeId: c.body.challengeId, method: 'biometric', webauthn: a.authenticator.assert(c.body.webauthn) },
    });
    assert.equal(issued.status, 200, issued.text);
    const token = issued.body.token as string;

    const listed = await t.call('GET', `/api/v1/customers/${customerId}/devices`, { token: agent });
    assert.equal(listed.status, 200, listed.text);
    assert.ok(listed.body.items.some((d: any) => d.id === a.deviceId));
    assert.equal((await t.call('DELETE', `/api/v1/customers/${customerId}/devices/${a.deviceId}`, { token: agent })).status, 204);
    const entries = await auditFor(`device:${a.deviceId}`, 'device.revoke');
    assert.match(entries[0]!.actor, /^agent:/);

    const callId = 'revoked-call@test';
    const fromTag = 'ft-revoked';
    const refused = await admitCustomerCall(t.service.deps, {
      token,
      dialogId: `${callId};${fromTag}`,
      callId,
      fromTag,
      deviceProof: deviceProofFor(a.key, token, callId, fromTag),
    }).then(
      () => assert.fail('a revoked device was admitted'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof AppError, String(refused));
    assert.equal(refused.code, 'device_revoked');
    assert.equal((await t.service.deps.store.tokens.get(tokenJti(token)))?.consumedAt, null, 'the token is not spent');
    const denied = (await auditFor(`dialog:${callId};${fromTag}`, 'token.verify')).filter((e) => e.decision === 'deny');
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.data.code, 'device_revoked');

    // Another customer's device cannot be revoked through this customer.
    const other = await t.call('POST', '/api/v1/customers', { token: admin, body: { name: 'Ola', phone: null } });
    const stranger = await enrolPhone(t, admin, other.body.id, PIN);
    assert.equal((await t.call('DELETE', `/api/v1/customers/${customerId}/devices/${stranger.deviceId}`, { token: agent })).status, 404);
  });

  it('an admin revokes an API key: the next request with it gets 401; agents cannot', async () => {
    const created = await t.call('POST', '/api/v1/api-keys', { token: admin, body: { name: 'crm', scopes: ['directory:read'] } });
    assert.equal(created.status, 201, created.text);
    assert.equal((await t.call('GET', '/api/v1/agents', { apiKey: created.body.key })).status, 200);
    assert.equal((await t.call('DELETE', `/api/v1/api-keys/${created.body.id}`, { token: agent })).status, 403);

    const revoked = await t.call('DELETE', `/api/v1/api-keys/${created.body.id}`, { token: admin });
    assert.equal(revoked.status, 204, revoked.text);
    assert.equal((await t.call('GET', '/api/v1/agents', { apiKey: created.body.key })).status, 401);
    const listed = await t.call('GET', '/api/v1/api-keys', { token: admin });
    assert.ok(listed.body.items.find((k: any) => k.id === created.body.id).revokedAt);
    assert.ok(!listed.text.includes(created.body.key), 'the key itself is never listed');
    const entries = await auditFor('apikey:crm', 'apikey.revoke');
    assert.equal(entries.length, 1);
    assert.equal((await t.call('DELETE', `/api/v1/api-keys/${created.body.id}`, { token: admin })).status, 404);
  });
});
