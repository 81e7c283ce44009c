/**
 * The endpoints the customer app and the agent console use besides the core flow: the device's
 * live channel, the VAPID key, open callback slots, cancelling a scheduled callback, call history,
 * one customer by id, and the sip.js modules. Real PostgreSQL, the push service stand-in.
 */
import assert from 'node:assert/strict';
import { createAgent, saveGroup } from '../../src/flows/directory.js';
import { isWithinBusinessHours } from '../../src/domain/callback-schedule.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { verifyVapid, type TestSubscription } from '../support/fake-push-service.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

const PIN = '482916';
const HOURS = { '1': ['09:00-17:00'], '2': ['09:00-17:00'], '3': ['09:00-17:00'], '4': ['09:00-17:00'], '5': ['09:00-17:00'] };

/** Reads a Server-Sent Events stream with fetch, as the pages do; collects its events. */
function listen(url: string, token: string) {
  const controller = new AbortController();
  const events: Array<{ type: string; data: any }> = [];
  const ready = (async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    return res;
  })();
  const done = ready.then(async (res) => {
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  });
  return { ready, events, close: () => controller.abort(), done };
}

describe('app and console extras through the HTTP API', function () {
  this.timeout(60_000);
  let t: TestService;
  let admin: string;
  let anna: string;
  let ben: string;
  let annaId: string;
  let chris: { id: string; credential: string; push: TestSubscription };
  let dana: { id: string; credential: string; push: TestSubscription };

  async function login(username: string, password: string) {
    const res = await t.call('POST', '/api/v1/auth/login', { body: { username, password } });
    assert.equal(res.status, 200, res.text);
    return res.body.token as string;
  }

  async function customerWithPhone(name: string, timeZone: string) {
    const created = await t.call('POST', '/api/v1/customers', { token: admin, body: { name, timeZone } });
    assert.equal(created.status, 201, created.text);
    const code = await t.call('POST', `/api/v1/customers/${created.body.id}/enrollment-codes`, { token: admin });
    const enrolled = await t.call('POST', '/api/v1/devices', {
      body: { enrollmentCode: code.body.code, label: 'Phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: PIN },
    });
    assert.equal(enrolled.status, 201, enrolled.text);
    const push = t.push.createSubscription();
    await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: enrolled.body.credential, body: push.subscription });
    return { id: created.body.id as string, credential: enrolled.body.credential as string, push };
  }

  async function knock(token: string, customerId: string, reference: string) {
    const res = await t.call('POST', '/api/v1/call-requests', { token, body: { customerId, reason: 'Card payment check', reference } });
    assert.equal(res.status, 201, res.text);
    return res.body.id as string;
  }

  before(async () => {
    t = await startTestService({ KNOCK_SIP__ENABLED: 'false', KNOCK_BRANDING__NAME: 'Northwind Bank', KNOCK_BRANDING__PRIMARY_COLOR: '#1D5C2E', KNOCK_BRANDING__LOGO: 'src/web/app/icon.svg' });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'support', name: 'Support', timeZone: 'Europe/London', businessHours: HOURS, slotCapacity: 1, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'admin', name: 'Admin', extension: '1000', password: 'admin-password-1', groups: [], role: 'admin' });
    annaId = (await createAgent(deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: 'anna-password-1', groups: ['support'] })).id;
    await createAgent(deps, { username: 'ben', name: 'Ben Agent', extension: '1002', password: 'ben-password-11', groups: ['support'] });
    admin = await login('admin', 'admin-password-1');
    anna = await login('anna', 'anna-password-1');
    ben = await login('ben', 'ben-password-11');
    chris = await customerWithPhone('Chris Customer', 'America/New_York');
    dana = await customerWithPhone('Dana Customer', 'Europe/Paris');
  });

  after(async () => {
    await t?.stop();
  });

  it('gives the VAPID public key the push channel signs with', async () => {
    const res = await t.call('GET', '/api/v1/push/vapid-public-key');
    assert.equal(res.status, 200);
    assert.equal(Buffer.from(res.body.publicKey, 'base64url').length, 65);
    await knock(anna, chris.id, 'CASE-V1');
    const [sent] = await waitFor('a push', () => (chris.push.received().length ? chris.push.received() : null));
    const vapid = await verifyVapid(sent!.headers.authorization, t.push.origin);
    assert.equal(vapid.publicKey, res.body.publicKey);
  });

  it("streams a device its own customer's request changes only, and refuses a missing credential", async () => {
    const refused = await fetch(`${t.url}/api/v1/app/events`);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();

    const chrisEvents = listen(`${t.url}/api/v1/app/events`, chris.credential);
    const danaEvents = listen(`${t.url}/api/v1/app/events`, dana.credential);
    assert.equal((await chrisEvents.ready).status, 200);
    assert.equal((await danaEvents.ready).status, 200);
    const forDana = await knock(ben, dana.id, 'CASE-D1');
    await waitFor('Dana to hear of her request', () => danaEvents.events.some((e) => e.data.requestId === forDana && e.data.state === 'notified'));
    const accepted = await t.call('POST', `/api/v1/app/requests/${forDana}/accept`, { token: dana.credential });
    assert.equal(accepted.status, 200, accepted.text);
    await waitFor('Dana to hear it is accepted', () => danaEvents.events.some((e) => e.data.requestId === forDana && e.data.state === 'accepted'));
    chrisEvents.close();
    danaEvents.close();
    assert.ok(!chrisEvents.events.some((e) => e.data.requestId === forDana), "Chris's phone saw Dana's request");
    // The event names the request and its state, nothing about the agent.
    assert.deepEqual(Object.keys(danaEvents.events.find((e) => e.type === 'request.changed')!.data).sort(), ['at', 'requestId', 'state']);
  });

  it('shows a device as last seen once its app opens its live stream', async () => {
    const gil = await customerWithPhone('Gil Customer', 'Europe/London');
    const me = async () => (await t.call('GET', '/api/v1/devices/me', { token: gil.credential })).body;
    assert.equal((await me()).lastSeenAt, null, 'not seen since enrolment');
    const stream = listen(`${t.url}/api/v1/app/events`, gil.credential);
    assert.equal((await stream.ready).status, 200);
    try {
      const seenAt = await waitFor('the device seen', async () => (await me()).lastSeenAt as string | null);
      assert.ok(Math.abs(Date.parse(seenAt) - t.service.deps.clock().getTime()) < 60_000);
    } finally {
      stream.close();
    }
  });

  it('refuses an accept from a device with neither biometric nor PIN, and leaves the request for a device that has one', async () => {
    const erin = await customerWithPhone('Erin Customer', 'Europe/London');
    const code = await t.call('POST', `/api/v1/customers/${erin.id}/enrollment-codes`, { token: admin });
    const bare = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'Tablet', publicKeyJwk: new SoftDeviceKey().publicJwk } });
    assert.equal(bare.status, 201, bare.text);
    const requestId = await knock(anna, erin.id, 'CASE-E1');
    const refused = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: bare.body.credential });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.body.detail, /no biometric or PIN/);
    const still = await t.call('GET', `/api/v1/app/requests/${requestId}`, { token: erin.credential });
    assert.equal(still.body.state, 'notified', 'not held for the device that cannot sign in');
    const accepted = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: erin.credential });
    assert.equal(accepted.status, 200, accepted.text);
    assert.deepEqual(accepted.body.methods, ['pin']);
  });

  it("offers open slots in business hours, in the customer's zone, without full ones", async () => {
    const id = await knock(ben, chris.id, 'CASE-S1');
    const res = await t.call('GET', `/api/v1/app/requests/${id}/slots?limit=40`, { token: chris.credential });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.timeZone, 'America/New_York');
    assert.equal(res.body.businessTimeZone, 'Europe/London');
    assert.equal(res.body.slots.length, 40);
    const now = Date.now();
    for (const s of res.body.slots as Array<{ start: string; end: string }>) {
      assert.ok(Date.parse(s.start) > now);
      assert.ok(isWithinBusinessHours(new Date(s.start), { timeZone: 'Europe/London', weekly: HOURS }), `${s.start} is outside business hours`);
      assert.equal(Date.parse(s.end) - Date.parse(s.start) <= 30 * 60_000, true);
    }

    // Capacity 1: once booked, the slot is no longer offered to anyone.
    const first = res.body.slots[0].start as string;
    const booked = await t.call('POST', `/api/v1/app/requests/${id}/schedule`, { token: chris.credential, body: { at: first, note: 'after lunch' } });
    assert.equal(booked.status, 200, booked.text);
    const other = await knock(anna, dana.id, 'CASE-S2');
    const forDana = await t.call('GET', `/api/v1/app/requests/${other}/slots?limit=40`, { token: dana.credential });
    assert.equal(forDana.body.timeZone, 'Europe/Paris');
    assert.ok(!forDana.body.slots.some((s: { start: string }) => s.start === first), 'a full slot is offered');

    const bad = await t.call('GET', `/api/v1/app/requests/${id}/slots?limit=0`, { token: chris.credential });
    assert.equal(bad.status, 400);
    const notMine = await t.call('GET', `/api/v1/app/requests/${other}/slots`, { token: chris.credential });
    assert.equal(notMine.status, 404);
  });

  it('lets the customer cancel a scheduled callback, and only that', async () => {
    const [scheduled] = await t.service.deps.store.callRequests.list({ customerId: chris.id, states: ['scheduled'] });
    const consoleEvents = listen(`${t.url}/api/v1/events`, ben);
    await consoleEvents.ready;
    const cancelled = await t.call('POST', `/api/v1/app/requests/${scheduled!.id}/cancel`, { token: chris.credential });
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.state, 'cancelled');
    await waitFor("the agent's console to hear of it", () => consoleEvents.events.some((e) => e.data.requestId === scheduled!.id && e.data.state === 'cancelled'));
    consoleEvents.close();
    const callbacks = await t.call('GET', '/api/v1/callbacks', { token: ben });
    assert.ok(!callbacks.body.items.some((r: { id: string }) => r.id === scheduled!.id));

    const again = await t.call('POST', `/api/v1/app/requests/${scheduled!.id}/cancel`, { token: chris.credential });
    assert.equal(again.status, 409);
    assert.equal(again.body.detail, 'Only a scheduled call can be cancelled; this one is not scheduled.');
    const open = await knock(ben, chris.id, 'CASE-C2');
    const notScheduled = await t.call('POST', `/api/v1/app/requests/${open}/cancel`, { token: chris.credential });
    assert.equal(notScheduled.status, 409);
  });

  it('lists call history with names and references: agents see their own calls, admins everyone’s', async () => {
    const store = t.service.deps.store;
    const [request] = await store.callRequests.list({ customerId: chris.id, agentId: annaId });
    await store.callRecords.create({
      callRequestId: request!.id,
      sessionId: null,
      customerId: chris.id,
      agentId: annaId,
      direction: 'inbound',
      startedAt: new Date(),
      answeredAt: new Date(),
      endedAt: new Date(),
      outcome: 'completed',
      verification: 'token:pin',
    });
    const mine = await t.call('GET', '/api/v1/call-records', { token: anna });
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.body.items.length, 1);
    assert.equal(mine.body.items[0].customerName, 'Chris Customer');
    assert.equal(mine.body.items[0].reference, request!.reference);
    assert.equal(mine.body.items[0].outcome, 'completed');
    assert.equal((await t.call('GET', '/api/v1/call-records', { token: ben })).body.items.length, 0);
    assert.equal((await t.call('GET', '/api/v1/call-records', { token: admin })).body.items.length, 1);
    assert.equal((await t.call('GET', '/api/v1/call-records', { token: chris.credential })).status, 401);
  });

  it("gives the pages the bank's name, colours and logo from config", async () => {
    const branding = await t.call('GET', '/api/v1/branding');
    assert.equal(branding.status, 200);
    assert.deepEqual(branding.body, { name: 'Northwind Bank', primaryColor: '#1d5c2e', primaryDarkColor: '#083c8a', logoUrl: '/branding/logo' });
    const css = await t.call('GET', '/branding.css');
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.match(css.text, /--primary: #1d5c2e;/);
    const logo = await fetch(`${t.url}/branding/logo`);
    assert.equal(logo.headers.get('content-type'), 'image/svg+xml');
    assert.match(await logo.text(), /<svg/);
  });

  it("keeps the app's language and speaks it in the calendar entry, which says the customer calls in that mode", async () => {
    const fay = await customerWithPhone('Fay Kundin', 'Europe/Berlin');
    const stream = new AbortController();
    const opened = await fetch(`${t.url}/api/v1/app/events`, { headers: { authorization: `Bearer ${fay.credential}`, 'accept-language': 'de-CH,de;q=0.9,en;q=0.5' }, signal: stream.signal });
    assert.equal(opened.status, 200);
    const [device] = await waitFor('the language kept', async () => {
      const devices = await t.service.deps.store.devices.listForCustomer(fay.id);
      return devices[0]?.language === 'de' ? devices : null;
    });
    stream.abort();
    assert.equal(device!.language, 'de');

    const id = await knock(anna, fay.id, 'CASE-DE1');
    const [push] = await waitFor('the knock', () => (fay.push.received().length ? fay.push.payloads() : null));
    assert.equal((push as { body: string }).body, 'Anna Agent von Northwind Bank möchte Sie zum Vorgang CASE-DE1 anrufen.');
    const slots = await t.call('GET', `/api/v1/app/requests/${id}/slots?limit=1`, { token: fay.credential });
    const booked = await t.call('POST', `/api/v1/app/requests/${id}/schedule`, { token: fay.credential, body: { at: slots.body.slots[0].start } });
    assert.equal(booked.status, 200, booked.text);
    const ics = await t.call('GET', `/api/v1/app/requests/${id}/callback.ics`, { token: fay.credential, headers: { 'accept-language': 'de-CH,de;q=0.9' } });
    const unfolded = ics.text.replace(/\r\n[ \t]/g, '');
    assert.match(unfolded, /SUMMARY:Anna Agent anrufen \(CASE-DE1\)/);
    assert.match(unfolded, /DESCRIPTION:Ihr Anruf bei Anna Agent von Northwind Bank: Zu dieser Zeit bittet die App Sie\\, anzurufen\./);
    const english = await t.call('GET', `/api/v1/app/requests/${id}/callback.ics`, { token: fay.credential, headers: { 'accept-language': 'fr-FR' } });
    assert.match(english.text, /SUMMARY:Call Anna Agent \(CASE-DE1\)/);
    assert.doesNotMatch(english.text.replace(/\r\n[ \t]/g, ''), /will call you/);
  });

  it('names one customer by id for staff only', async () => {
    const res = await t.call('GET', `/api/v1/customers/${chris.id}`, { token: anna });
    assert.equal(res.status, 200);
    assert.equal(res.body.name, 'Chris Customer');
    assert.equal((await t.call('GET', '/api/v1/customers/00000000-0000-4000-8000-000000000000', { token: anna })).status, 404);
    assert.equal((await t.call('GET', `/api/v1/customers/${chris.id}`, { token: chris.credential })).status, 401);
  });

  it("answers a device about its own customer's requests only, and an unknown device with 401 whatever the id", async () => {
    const eve = await customerWithPhone('Eve Customer', 'Europe/London');
    const id = await knock(ben, eve.id, 'CASE-O1');
    const before = await t.service.deps.store.callRequests.get(id);
    const calls: Array<[string, string, object?]> = [
      ['GET', `/api/v1/app/requests/${id}`],
      ['POST', `/api/v1/app/requests/${id}/accept`],
      ['POST', `/api/v1/app/requests/${id}/snooze`, { minutes: 30 }],
      ['POST', `/api/v1/app/requests/${id}/cancel`],
      ['GET', `/api/v1/app/requests/${id}/callback.ics`],
    ];
    for (const [method, path, body] of calls) {
      const res = await t.call(method, path, { token: chris.credential, body });
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
    }
    assert.deepEqual(await t.service.deps.store.callRequests.get(id), before, "another customer's device changed nothing");
    const own = await t.call('GET', `/api/v1/app/requests/${id}`, { token: eve.credential });
    assert.equal(own.status, 200);
    assert.equal(own.body.reference, 'CASE-O1');

    for (const path of [`/api/v1/app/requests/${id}/accept`, '/api/v1/app/requests/not-an-id/accept']) {
      const res = await t.call('POST', path, { token: 'not-a-device-credential' });
      assert.equal(res.status, 401, path);
    }
    assert.equal((await t.call('POST', '/api/v1/app/requests/not-an-id/accept', { token: chris.credential })).status, 404);
  });

  it('serves the sip.js ES modules for the call screen, and nothing else from the package', async () => {
    const res = await fetch(`${t.url}/vendor/sip.js/index.js`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    assert.match(await res.text(), /export \* from "\.\/api\/index\.js"/);
    const types = await fetch(`${t.url}/vendor/sip.js/index.d.ts`);
    assert.equal(types.status, 404);
    await types.body?.cancel();
  });

  it("serves the customer app and the console with the app manifest in the bank's name and colour", async () => {
    const app = await fetch(`${t.url}/app/`);
    assert.equal(app.status, 200);
    assert.match(await app.text(), /<link rel="manifest" href="manifest.webmanifest"/);
    const manifest = await t.call('GET', '/app/manifest.webmanifest');
    const parsed = typeof manifest.body === 'string' ? JSON.parse(manifest.body) : manifest.body;
    assert.equal(parsed.start_url, '/app/');
    assert.equal(parsed.name, 'Northwind Bank');
    assert.equal(parsed.theme_color, '#1d5c2e');
    assert.equal((await fetch(`${t.url}/app/sw.js`)).status, 200);
    assert.equal((await fetch(`${t.url}/console/`)).status, 200);
  });
});
