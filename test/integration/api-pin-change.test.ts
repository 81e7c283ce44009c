/**
 * The PIN through the HTTP API: a lock-out holds against a PIN change, a change needs the device
 * key and the current PIN (or the passkey), a wrong current PIN counts, and right PINs answered
 * in parallel are never locked out. Real service, real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createAgent } from '../../src/flows/directory.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { enrolPhone } from '../support/verified-customer.js';

const PIN = '482916';
const NEW_PIN = '739164';
const WRONG = '000111';

describe('changing the PIN and the PIN lock-out, through the API', function () {
  this.timeout(90_000);
  let t: TestService;
  let agent: string;

  before(async () => {
    t = await startTestService();
    await createAgent(t.service.deps, { username: 'hana', name: 'Hana', extension: '1301', password: 'hana-password-1', groups: [], role: 'admin' });
    const login = await t.call('POST', '/api/v1/auth/login', { body: { username: 'hana', password: 'hana-password-1' } });
    agent = login.body.token;
  });
  after(async () => t?.stop());

  /** A customer with a phone enrolled the way the app does it: device key and PIN, no passkey. */
  async function pinPhone() {
    const customer = await t.call('POST', '/api/v1/customers', { token: agent, body: { name: 'Ivo', phone: '+447700900124' } });
    const code = await t.call('POST', `/api/v1/customers/${customer.body.id}/enrollment-codes`, { token: agent });
    const key = new SoftDeviceKey();
    const enrolled = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'phone', publicKeyJwk: key.publicJwk, pin: PIN } });
    assert.equal(enrolled.status, 201, enrolled.text);
    return { customerId: customer.body.id as string, credential: enrolled.body.credential as string, key };
  }

  async function knock(customerId: string, reference: string): Promise<string> {
    const res = await t.call('POST', '/api/v1/call-requests', { token: agent, body: { customerId, reason: 'Card check', reference } });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  }

  async function authenticate(phone: { credential: string; key: SoftDeviceKey }, requestId: string, pin: string) {
    const c = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: phone.credential });
    // A locked device with only its PIN is refused at accept already.
    if (c.status === 423) return c;
    assert.equal(c.status, 200, c.text);
    return t.call('POST', `/api/v1/app/requests/${requestId}/authenticate`, {
      token: phone.credential,
      body: { challengeId: c.body.challengeId, method: 'pin', pin, signature: phone.key.sign(c.body.challenge) },
    });
  }

  const pinChallenge = (credential: string) => t.call('POST', '/api/v1/devices/me/pin/challenge', { token: credential });
  const changePin = (credential: string, body: Record<string, unknown>) => t.call('PUT', '/api/v1/devices/me/pin', { token: credential, body });

  it('a locked device cannot lift its lock by setting a new PIN', async () => {
    const phone = await pinPhone();
    const requestId = await knock(phone.customerId, 'LOCK-1');
    const early = await pinChallenge(phone.credential); // taken before the lock
    assert.equal(early.status, 200, early.text);
    for (let i = 0; i < 4; i++) assert.equal((await authenticate(phone, requestId, WRONG)).status, 403);
    assert.equal((await authenticate(phone, requestId, WRONG)).status, 423);

    // What the outside tester did: the device credential alone used to set a PIN and clear the lock.
    const bare = await changePin(phone.credential, { pin: NEW_PIN });
    assert.equal(bare.status, 400, bare.text);
    assert.equal((await pinChallenge(phone.credential)).status, 423);
    const full = await changePin(phone.credential, { pin: NEW_PIN, currentPin: PIN, challengeId: early.body.challengeId, signature: phone.key.sign(early.body.challenge) });
    assert.equal(full.status, 423, full.text);
    assert.equal(full.body.code, 'pin_locked');
    assert.ok(full.body.lockedUntil);
    // Still locked, for the right PIN and for the new one.
    assert.equal((await authenticate(phone, requestId, PIN)).status, 423);
    assert.equal((await authenticate(phone, requestId, NEW_PIN)).status, 423);
    const refusals = (await t.service.deps.store.audit.list({ subject: `device:${(await t.call('GET', '/api/v1/devices/me', { token: phone.credential })).body.id}` })).filter(
      (e) => e.action === 'device.pin' && e.decision === 'deny',
    );
    assert.ok(refusals.some((e) => /locked/.test(e.reason)), 'the refused change is audited');

    // Once the lock has ended, the current PIN changes it.
    t.advance(16 * 60_000);
    const c = await pinChallenge(phone.credential);
    assert.equal(c.status, 200, c.text);
    assert.deepEqual(c.body.methods, ['pin']);
    const changed = await changePin(phone.credential, { pin: NEW_PIN, currentPin: PIN, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(changed.status, 204, changed.text);
  });

  it('a change needs the device key signature of a fresh challenge and the current PIN; a wrong current PIN counts', async () => {
    const phone = await pinPhone();
    let c = await pinChallenge(phone.credential);
    const forged = await changePin(phone.credential, { pin: NEW_PIN, currentPin: PIN, challengeId: c.body.challengeId, signature: new SoftDeviceKey().sign(c.body.challenge) });
    assert.equal(forged.status, 403, forged.text);
    const reused = await changePin(phone.credential, { pin: NEW_PIN, currentPin: PIN, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(reused.status, 409, reused.text);
    c = await pinChallenge(phone.credential);
    const noCurrent = await changePin(phone.credential, { pin: NEW_PIN, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(noCurrent.status, 403, noCurrent.text);

    for (const left of [4, 3, 2, 1]) {
      c = await pinChallenge(phone.credential);
      const wrong = await changePin(phone.credential, { pin: NEW_PIN, currentPin: WRONG, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
      assert.equal(wrong.status, 403, wrong.text);
      assert.equal(wrong.body.attemptsLeft, left);
    }
    c = await pinChallenge(phone.credential);
    const locking = await changePin(phone.credential, { pin: NEW_PIN, currentPin: WRONG, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(locking.status, 423, locking.text);
    const requestId = await knock(phone.customerId, 'LOCK-2');
    assert.equal((await authenticate(phone, requestId, PIN)).status, 423, 'wrong current PINs lock the device for accepting calls too');
  });

  it('the right current PIN changes it: the new PIN works, the old one no longer does', async () => {
    const phone = await pinPhone();
    const c = await pinChallenge(phone.credential);
    const changed = await changePin(phone.credential, { pin: NEW_PIN, currentPin: PIN, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(changed.status, 204, changed.text);
    const requestId = await knock(phone.customerId, 'NEW-1');
    assert.equal((await authenticate(phone, requestId, PIN)).status, 403);
    const ok = await authenticate(phone, requestId, NEW_PIN);
    assert.equal(ok.status, 200, ok.text);
  });

  it('a passkey assertion confirms a change in place of the current PIN', async () => {
    const customer = await t.call('POST', '/api/v1/customers', { token: agent, body: { name: 'Jo', phone: null } });
    const phone = await enrolPhone(t, agent, customer.body.id, PIN);
    const c = await pinChallenge(phone.credential);
    assert.deepEqual(c.body.methods, ['pin', 'biometric']);
    const changed = await changePin(phone.credential, { pin: NEW_PIN, webauthn: phone.authenticator.assert(c.body.webauthn), challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
    assert.equal(changed.status, 204, changed.text);
  });

  it('twenty answers with the right PIN at once: none is locked out, one call is verified', async () => {
    const phone = await pinPhone();
    const requestId = await knock(phone.customerId, 'PAR-1');
    const challenges = [];
    for (let i = 0; i < 20; i++) {
      const c = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: phone.credential });
      assert.equal(c.status, 200, c.text);
      challenges.push(c.body);
    }
    const answers = await Promise.all(
      challenges.map((c) =>
        t.call('POST', `/api/v1/app/requests/${requestId}/authenticate`, {
          token: phone.credential,
          body: { challengeId: c.challengeId, method: 'pin', pin: PIN, signature: phone.key.sign(c.challenge) },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 423).length, 0, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
    assert.ok(statuses.every((s) => s === 200 || s === 409), statuses.join(','));
  });

  /** Challenges taken one by one, then the changes sent at once, as a client submitting twice or more. */
  async function parallelChanges(phone: { credential: string; key: SoftDeviceKey }, n: number, pin: string) {
    const challenges = [];
    for (let i = 0; i < n; i++) challenges.push((await pinChallenge(phone.credential)).body);
    return Promise.all(
      challenges.map((c) => changePin(phone.credential, { pin, currentPin: PIN, challengeId: c.challengeId, signature: phone.key.sign(c.challenge) })),
    );
  }

  it('the same change sent twelve times at once changes the PIN once; the others are conflicts, nothing is counted or locked', async () => {
    const phone = await pinPhone();
    const rs = await parallelChanges(phone, 12, NEW_PIN);
    const statuses = rs.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 204).length, 1, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 409).length, 11, statuses.join(','));
    assert.ok(rs.filter((r) => r.status === 409).every((r) => r.body.code === 'conflict' && /just changed/.test(r.body.detail)), rs.map((r) => r.text).join('\n'));
    const requestId = await knock(phone.customerId, 'DUP-1');
    const ok = await authenticate(phone, requestId, NEW_PIN);
    assert.equal(ok.status, 200, ok.text);
  });

  it('twenty changes to the same PIN at once: one is made, the others are conflicts, none is refused for waiting', async () => {
    const phone = await pinPhone();
    const rs = await parallelChanges(phone, 20, PIN);
    const statuses = rs.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 204).length, 1, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 409).length, 19, statuses.join(','));
    const requestId = await knock(phone.customerId, 'DUP-2');
    assert.equal((await authenticate(phone, requestId, PIN)).status, 200);
  });

  async function lockWithWrongPins(phone: { credential: string; key: SoftDeviceKey }) {
    for (let i = 0; i < 5; i++) {
      const c = await pinChallenge(phone.credential);
      const r = await changePin(phone.credential, { pin: NEW_PIN, currentPin: WRONG, challengeId: c.body.challengeId, signature: phone.key.sign(c.body.challenge) });
      assert.equal(r.status, i < 4 ? 403 : 423, r.text);
    }
  }

  it('a locked device that has only its PIN cannot accept: 423 before the request is held', async () => {
    const phone = await pinPhone();
    await lockWithWrongPins(phone);
    const second = await knock(phone.customerId, 'HOLD-2');
    const before = await t.service.deps.store.callRequests.get(second);
    const accepted = await t.call('POST', `/api/v1/app/requests/${second}/accept`, { token: phone.credential });
    assert.equal(accepted.status, 423, accepted.text);
    assert.equal(accepted.body.code, 'pin_locked');
    assert.ok(accepted.body.lockedUntil);
    const after = await t.service.deps.store.callRequests.get(second);
    assert.equal(after?.state, before?.state, 'the request is not held');
  });

  it('a locked device with a passkey may still accept', async () => {
    const customer = await t.call('POST', '/api/v1/customers', { token: agent, body: { name: 'Lu', phone: null } });
    const phone = await enrolPhone(t, agent, customer.body.id, PIN);
    await lockWithWrongPins(phone);
    const second = await knock(customer.body.id, 'HOLD-4');
    const accepted = await t.call('POST', `/api/v1/app/requests/${second}/accept`, { token: phone.credential });
    assert.equal(accepted.status, 200, accepted.text);
  });
});
