/**
 * The customer app registers for calls against a real drachtio-server: the device fetches a
 * single-use registration token over the API and REGISTERs with it (Bearer, RFC 8898) plus the
 * device key's proof over its Call-ID and From tag. The app's UA is a small UDP user agent in
 * Node (test/support/fake-app-ua.ts), because the proof is signed over values chosen per REGISTER.
 */
import assert from 'node:assert/strict';
import { admitCustomerCall } from '../../src/flows/call-session.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import { drachtioAvailable, freePort } from '../support/drachtio-server.js';
import { FakeAppUa, header, registerProofFor, type SipMessage } from '../support/fake-app-ua.js';
import { startSipTestEnv, type SipTestEnv } from '../support/sip-test-env.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { deviceProofFor, setUpContactCenter, verifiedCall, type ContactCenter } from '../support/verified-customer.js';

describe('customer app SIP registration (drachtio-server)', function () {
  this.timeout(60_000);
  let env: SipTestEnv;
  let deps: FlowDeps;
  let cc: ContactCenter;
  let ua: FakeAppUa;

  before(async function () {
    const missing = drachtioAvailable();
    if (missing) {
      console.log(`      SIP tests skipped: ${missing}`);
      this.skip();
    }
    env = await startSipTestEnv({ KNOCK_SIP__REGISTRAR__MIN_EXPIRES: '60' });
    deps = env.svc.service.deps;
    cc = await setUpContactCenter(env.svc, { agents: [{ username: 'anna', name: 'Anna Agent', extension: '1001' }], callbackMode: 'agent_calls' });
    ua = await FakeAppUa.start({ host: '127.0.0.1', port: env.drachtio.sipPort }, await freePort({ udp: true }));
  });

  after(async () => {
    await ua?.close();
    await env?.stop();
  });

  /** What the app gets from POST /api/v1/devices/me/sip-registration. */
  async function registrationToken(): Promise<{ token: string; aor: string; wsUrl: string; expiresAt: string }> {
    const r = await env.svc.call('POST', '/api/v1/devices/me/sip-registration', { token: cc.deviceCredential });
    assert.equal(r.status, 200, r.text);
    return r.body;
  }

  const register = (
    token: string | null,
    opts: { deviceId?: string; key?: SoftDeviceKey | null; expires?: number; contact?: string; signedContact?: string; callProof?: boolean } = {},
  ): Promise<SipMessage> =>
    ua.register({
      deviceId: opts.deviceId ?? cc.deviceId,
      domain: deps.config.sip.domain,
      token,
      proof:
        opts.key === null || token === null
          ? null
          : opts.callProof
            ? (callId, fromTag) => deviceProofFor(opts.key ?? cc.deviceKey, token, callId, fromTag)
            : (callId, fromTag, contact) => registerProofFor(opts.key ?? cc.deviceKey, token, callId, fromTag, opts.signedContact ?? contact),
      expires: opts.expires ?? 300,
      ...(opts.contact ? { contact: opts.contact } : {}),
    });

  const status = (m: SipMessage) => Number(m.startLine.split(' ')[1]);
  const reasonCode = (m: SipMessage) => /text="([a-z_]+)"/.exec(header(m, 'Reason') ?? '')?.[1];

  it('hands out a short-lived token for the device AOR, not the customer number', async () => {
    const issued = await registrationToken();
    assert.equal(issued.aor, `sip:${cc.deviceId}@${deps.config.sip.domain}`);
    assert.equal(issued.wsUrl, deps.config.sip.wsUrl);
    const lifetime = new Date(issued.expiresAt).getTime() - Date.now();
    assert.ok(lifetime > 0 && lifetime <= 120_000, `token lives ${lifetime} ms`);
    assert.doesNotMatch(JSON.stringify(issued), /447700900123/);
    const unauthenticated = await env.svc.call('POST', '/api/v1/devices/me/sip-registration');
    assert.equal(unauthenticated.status, 401);
  });

  it('registers with a good token and proof; the binding is where callbacks ring', async () => {
    const { token } = await registrationToken();
    const ok = await register(token);
    assert.equal(status(ok), 200, ok.raw);
    assert.match(header(ok, 'Contact') ?? '', new RegExp(`<${ua.contact.replace(/[.;]/g, '\\$&')}>;expires=300`));
    const [binding] = await deps.store.devices.sipRegistrations(cc.customerId, new Date());
    assert.equal(binding?.deviceId, cc.deviceId);
    assert.equal(binding?.contact, ua.contact);
    assert.equal(binding?.source, `udp/127.0.0.1:${ua.port}`);
    const audit = await deps.store.audit.list({ subject: `device:${cc.deviceId}`, limit: 50 });
    assert.ok(audit.some((e) => e.action === 'sip.register' && e.decision === 'allow'));
    // Expired bindings are not used, and housekeeping clears them.
    const later = new Date(Date.now() + 301_000);
    assert.deepEqual(await deps.store.devices.sipRegistrations(cc.customerId, later), []);
    assert.equal(await deps.store.devices.purgeExpiredSipRegistrations(later), 1);
    assert.equal((await deps.store.devices.get(cc.deviceId))!.sipContact, null);
  });

  it('challenges a REGISTER without a token with Bearer (401)', async () => {
    const r = await register(null);
    assert.equal(status(r), 401, r.raw);
    assert.equal(header(r, 'WWW-Authenticate'), `Bearer realm="${deps.config.sip.domain}"`);
  });

  it('refuses a replayed token, another device, a foreign key and a call token (403 with the reason)', async () => {
    const { token } = await registrationToken();
    assert.equal(status(await register(token)), 200);
    const replayed = await register(token);
    assert.equal(status(replayed), 403, replayed.raw);
    assert.equal(reasonCode(replayed), 'token_replayed');

    const other = await registrationToken();
    const otherDevice = await register(other.token, { deviceId: '00000000-0000-4000-8000-000000000001' });
    assert.equal(reasonCode(otherDevice), 'token_misbound');
    const foreignKey = await register(other.token, { key: new SoftDeviceKey() });
    assert.equal(reasonCode(foreignKey), 'token_misbound');
    const noProof = await register(other.token, { key: null });
    assert.equal(reasonCode(noProof), 'token_misbound');
    assert.match(header(noProof, 'Warning') ?? '', /Registration token refused: device proof required/);
    // A proof made for a call (its context) is not a REGISTER's proof.
    const callProof = await register(other.token, { callProof: true });
    assert.equal(reasonCode(callProof), 'token_misbound');
    // Token and proof lifted off the wire and sent first with someone else's Contact: refused,
    // because the proof covers the Contact the genuine app signed.
    const hijack = await register(other.token, { contact: 'sip:eve@127.0.0.1:5999', signedContact: ua.contact });
    assert.equal(status(hijack), 403, hijack.raw);
    assert.equal(reasonCode(hijack), 'token_misbound');
    // None of those spent the token: the genuine device can still use it.
    assert.equal(status(await register(other.token)), 200);

    const call = await verifiedCall(env.svc, cc, 'anna', 'CASE-9101');
    const callToken = await register(call.token);
    assert.equal(status(callToken), 403);
    assert.equal(reasonCode(callToken), 'token_invalid');

    const denied = (await deps.store.audit.list({ subject: `device:${cc.deviceId}`, limit: 100 })).filter((e) => e.action === 'sip.register' && e.decision === 'deny');
    for (const code of ['token_missing', 'token_replayed', 'token_misbound', 'token_invalid']) {
      assert.ok(denied.some((e) => e.data.code === code), `audit has a denial for ${code}`);
    }
  });

  it('refuses a registration token where a call token is expected (INVITE)', async () => {
    const { token } = await registrationToken();
    await assert.rejects(
      admitCustomerCall(deps, { token, dialogId: 'x;from-tag=y', callId: 'x', fromTag: 'y', deviceProof: deviceProofFor(cc.deviceKey, token, 'x', 'y') }),
      (e: { code?: string }) => e.code === 'token_invalid',
    );
  });

  it('de-registers with Expires: 0 (with a fresh token)', async () => {
    const first = await registrationToken();
    assert.equal(status(await register(first.token)), 200);
    assert.equal((await deps.store.devices.sipRegistrations(cc.customerId, new Date())).length, 1);
    const second = await registrationToken();
    const gone = await register(second.token, { expires: 0 });
    assert.equal(status(gone), 200, gone.raw);
    assert.deepEqual(await deps.store.devices.sipRegistrations(cc.customerId, new Date()), []);
  });
  it('refuses a device id from a source after too many refused REGISTERs, unchecked and audited once; other devices at that address still register', async () => {
    const limit = deps.config.sip.registrar.failedAuthPerMinute;
    const stranger = '00000000-0000-4000-8000-00000000f100';
    const { token } = await registrationToken();
    // In parallel: each attempt is counted before its token is checked.
    const answers = await Promise.all(Array.from({ length: limit + 5 }, () => register(token, { deviceId: stranger })));
    assert.ok(answers.every((a) => status(a) === 403));
    const limited = answers.filter((a) => reasonCode(a) === 'too_many_failures');
    assert.equal(limited.length, 5, `${limited.length} of ${limit + 5} refused unchecked`);
    assert.match(limited[0]!.startLine, /Too Many Failed Attempts/);

    const rows = (await deps.store.audit.list({ subject: `device:${stranger}`, limit: 500 })).filter((e) => e.action === 'sip.register');
    assert.equal(rows.filter((e) => e.data.code === 'too_many_failures').length, 1, 'the block is audited once per key and minute');
    assert.ok(rows.length <= limit + 1, `${rows.length} audit rows for ${limit + 5} refused REGISTERs`);
    // The genuine device at the same address (carrier NAT) is not locked out, and its token works.
    assert.equal(status(await register(token)), 200);
  });
});
