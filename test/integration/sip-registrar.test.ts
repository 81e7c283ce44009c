/**
 * The registrar against a real drachtio-server, with sipp as the desk phone: digest
 * authentication, expiry, refresh, several contacts, de-registration, rate limiting, and agent
 * availability following registration.
 */
import assert from 'node:assert/strict';
import type { Agent } from '../../src/domain/model.js';
import { deskPhoneUnregistered, expireDeskPhoneRegistrations } from '../../src/flows/desk-phone.js';
import { createAgent, saveGroup } from '../../src/flows/directory.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import { freePort } from '../support/drachtio-server.js';
import { sipSkipReason, startSipTestEnv, type SipTestEnv } from '../support/sip-test-env.js';
import { runSipp, type SippOptions } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';

const PASSWORD = 'desk-phone-secret-1';

/** The last SIP message sipp received whose first line matches. */
function lastReceived(messages: string, firstLine: RegExp): string {
  const received = messages.split(/-{20,}[^\n]*\n/).filter((m) => /message received/.test(m));
  const hit = received.reverse().find((m) => firstLine.test(m.split('\n').find((l) => l.startsWith('SIP/2.0') || /^[A-Z]+ sip/.test(l)) ?? ''));
  if (!hit) throw new Error(`no received message matching ${firstLine}`);
  return hit;
}

describe('SIP registrar (drachtio-server + sipp)', function () {
  let env: SipTestEnv;
  let deps: FlowDeps;
  let anna: Agent;
  let ben: Agent;

  before(async function () {
    skipWhenMissing(this, sipSkipReason());
    // A low failure limit so the rate limit test needs few attempts.
    env = await startSipTestEnv({ KNOCK_SIP__REGISTRAR__FAILED_AUTH_PER_MINUTE: '3', KNOCK_SIP__REGISTRAR__MIN_EXPIRES: '60' });
    deps = env.svc.service.deps;
    await saveGroup(deps, {
      id: 'support',
      name: 'Support',
      timeZone: 'UTC',
      businessHours: { '1': ['00:00-24:00'] },
      slotCapacity: null,
      slotMinutes: 30,
      callbackMode: 'customer_calls',
    });
    anna = await createAgent(deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: PASSWORD, groups: ['support'] });
    ben = await createAgent(deps, { username: 'ben', name: 'Ben Agent', extension: '1002', password: PASSWORD, groups: ['support'] });
  });

  after(async () => {
    await env?.stop();
  });

  const sipp = (scenario: string, user: string, password: string, more: Partial<SippOptions> = {}) =>
    runSipp({
      scenario,
      remote: env.remote,
      timeoutMs: 10_000,
      ...more,
      vars: { user, expires: '600', ...(more.vars ?? {}) },
      extraArgs: ['-au', user, '-ap', password, ...(more.extraArgs ?? [])],
    });

  const bindings = (ext: string) => deps.store.registrations.list(ext, new Date());

  it('registers a desk phone with the right password: 200 OK lists its contact and expiry, the agent becomes available', async () => {
    assert.equal((await deps.store.agents.get(anna.id))!.availability, 'offline');
    const port = await freePort({ udp: true });
    const r = await sipp('register-ok', '1001', PASSWORD, { localPort: port });
    const ok = lastReceived(r.messages, /^SIP\/2.0 200/);
    assert.match(ok, new RegExp(`Contact: <sip:1001@127\\.0\\.0\\.1:${port};transport=UDP>;expires=(600|599)`));
    const [binding] = await bindings('1001');
    assert.equal(binding!.contact, `sip:1001@127.0.0.1:${port};transport=UDP`);
    assert.equal(binding!.userAgent, 'sipp desk phone');
    assert.ok(Math.abs(binding!.expiresAt.getTime() - Date.now() - 600_000) < 10_000);
    await waitFor('anna to become available', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');
    const audit = await deps.store.audit.list({ subject: `agent:${anna.id}` });
    assert.ok(audit.some((e) => e.action === 'sip.register' && e.decision === 'allow'));
  });

  it('refuses a wrong password with 403 after the challenge, and audits it', async () => {
    await sipp('register-refused', '1002', 'not-the-password');
    assert.deepEqual(await bindings('1002'), []);
    const audit = await deps.store.audit.list({ subject: 'extension:1002' });
    assert.ok(audit.some((e) => e.action === 'sip.register.auth' && e.decision === 'deny' && e.reason === 'wrong password'));
  });

  it('answers an unknown user with 401 first (like anyone else), then 403', async () => {
    // The scenario requires exactly 401 then 403.
    await sipp('register-refused', '7777', PASSWORD);
    const audit = await deps.store.audit.list({ subject: 'extension:7777' });
    assert.ok(audit.some((e) => e.reason === 'unknown user'));
  });

  it('refuses an expiry below the minimum with 423 and Min-Expires', async () => {
    const r = await sipp('register-too-brief', '1002', PASSWORD, { vars: { user: '1002', expires: '10' } });
    assert.match(lastReceived(r.messages, /^SIP\/2.0 423/), /Min-Expires: 60/);
    assert.deepEqual(await bindings('1002'), []);
  });

  it('refreshes a binding: same contact, new expiry, still one binding', async () => {
    const port = await freePort({ udp: true });
    await sipp('register-refresh', '1002', PASSWORD, { localPort: port, vars: { user: '1002', expires: '120', refresh_expires: '900' } });
    const list = await bindings('1002');
    assert.equal(list.length, 1);
    assert.ok(Math.abs(list[0]!.expiresAt.getTime() - Date.now() - 900_000) < 10_000, `expires at ${list[0]!.expiresAt.toISOString()}`);
  });

  it('keeps two contacts for one extension and lists both in the 200 OK', async () => {
    const second = await freePort({ udp: true });
    const r = await sipp('register-ok', '1001', PASSWORD, { localPort: second });
    const ok = lastReceived(r.messages, /^SIP\/2.0 200/);
    const contacts = ok.split('\n').filter((l) => /^(Contact|m):/i.test(l)).join('\n');
    assert.equal(contacts.match(/<sip:1001@127\.0\.0\.1:\d+;transport=UDP>;expires=\d+/g)?.length, 2, contacts);
    assert.equal((await bindings('1001')).length, 2);
  });

  it('replaces the binding of the same RFC 5626 instance and reg-id registered under another Contact; ignores the flow without Supported: outbound; no Require: outbound over UDP', async () => {
    const ext = '1002';
    await deps.store.registrations.removeAll(ext);
    const flow = { user: ext, instance: 'urn:uuid:0b5e3c2a-8f41-4d6e-b7a9-2c1d0e9f8a7b', reg_id: '1', supported: 'outbound, path' };
    const first = await freePort({ udp: true });
    const r1 = await sipp('register-outbound', ext, PASSWORD, { localPort: first, vars: flow });
    // Over UDP the phone's keep-alive would be STUN, which drachtio-server does not answer.
    assert.doesNotMatch(lastReceived(r1.messages, /^SIP\/2.0 200/), /^Require:.*outbound/im);
    const [one] = await bindings(ext);
    assert.deepEqual({ instanceId: one!.instanceId, regId: one!.regId }, { instanceId: flow.instance, regId: 1 });

    // The same phone from another address (it restarted, or its network changed): one binding.
    const second = await freePort({ udp: true });
    await sipp('register-outbound', ext, PASSWORD, { localPort: second, vars: flow });
    assert.deepEqual((await bindings(ext)).map((b) => b.contact), [`sip:${ext}@127.0.0.1:${second};transport=UDP;ob`]);

    // Another reg-id of the same instance is another flow, kept beside it.
    const third = await freePort({ udp: true });
    await sipp('register-outbound', ext, PASSWORD, { localPort: third, vars: { ...flow, reg_id: '2' } });
    assert.equal((await bindings(ext)).length, 2);

    // Without Supported: outbound the parameters mean nothing here: a binding of its own.
    const fourth = await freePort({ udp: true });
    await sipp('register-outbound', ext, PASSWORD, { localPort: fourth, vars: { ...flow, supported: 'path' } });
    const all = await bindings(ext);
    assert.equal(all.length, 3);
    assert.equal(all.find((b) => b.contact.includes(`:${fourth};`))!.instanceId, null);
    await deps.store.registrations.removeAll(ext);
    await deskPhoneUnregistered(deps, ext);
  });

  it('de-registers one contact with Expires: 0 and the rest with Contact: *; the agent goes offline', async () => {
    const list = await bindings('1001');
    assert.equal(list.length, 2);
    const port = Number(/:(\d+);/.exec(list[0]!.contact)![1]);
    await sipp('register-remove', '1001', PASSWORD, { localPort: port });
    assert.equal((await bindings('1001')).length, 1);
    assert.equal((await deps.store.agents.get(anna.id))!.availability, 'available');

    await sipp('register-remove-all', '1001', PASSWORD);
    assert.deepEqual(await bindings('1001'), []);
    await waitFor('anna to go offline', async () => (await deps.store.agents.get(anna.id))!.availability === 'offline');
  });

  it('housekeeping removes expired bindings and takes the agent offline', async () => {
    const port = await freePort({ udp: true });
    await sipp('register-ok', '1002', PASSWORD, { localPort: port, vars: { user: '1002', expires: '60' } });
    await waitFor('ben to become available', async () => (await deps.store.agents.get(ben.id))!.availability === 'available');
    // Seen from two hours later every binding has run out.
    const later = new Date(Date.now() + 2 * 3_600_000);
    assert.ok((await expireDeskPhoneRegistrations({ ...deps, clock: () => later })) >= 1);
    assert.deepEqual(await deps.store.registrations.list('1002', new Date()), []);
    assert.equal((await deps.store.agents.get(ben.id))!.availability, 'offline');
  });

  it('rate-limits one extension from one address after repeated failures: refused unchecked even with the right password, while another extension at that address still registers', async () => {
    // Fail until the limit (3) for 1002 from 127.0.0.1 is reached.
    for (let i = 0; i < 3; i++) await sipp('register-refused', '1002', 'guess-' + i);
    const blocked = await sipp('register-refused', '1002', PASSWORD);
    assert.match(lastReceived(blocked.messages, /^SIP\/2.0 403/), /^SIP\/2.0 403 Too Many Failed Attempts/m);
    assert.deepEqual(await bindings('1002'), []);
    // An office behind one NAT address: anna's phone is not locked out by ben's.
    await deps.store.registrations.removeAll('1001');
    await sipp('register-ok', '1001', PASSWORD);
    assert.equal((await bindings('1001')).length, 1);
  });

  it('holds the limit under a parallel burst of wrong passwords: only the limit is checked, the rest refused unchecked, one audit row for the block', async () => {
    await createAgent(deps, { username: 'carl', name: 'Carl Agent', extension: '1003', password: PASSWORD, groups: [] });
    const burst = 40;
    await sipp('register-refused', '1003', 'wrong-password', { calls: burst, timeoutMs: 20_000, extraArgs: ['-r', '400', '-l', String(burst)] });
    const rows = (await deps.store.audit.list({ subject: 'extension:1003', limit: 500 })).filter((e) => e.action === 'sip.register.auth');
    const checked = rows.filter((e) => e.reason === 'wrong password');
    const blocks = rows.filter((e) => /too many failed authentications/.test(e.reason ?? ''));
    assert.equal(checked.length, deps.config.sip.registrar.failedAuthPerMinute, `${checked.length} of ${burst} wrong passwords were checked`);
    assert.equal(blocks.length, 1);
    assert.deepEqual(await bindings('1003'), []);
  });
});
