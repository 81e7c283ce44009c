/**
 * notifyCustomer end to end: the real PostgreSQL store, the real Web Push and SMS channels, a push
 * service double and a Twilio double on loopback. Each test looks at what the customer's devices
 * and phone actually received and at what the store remembers.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { pino } from 'pino';
import webpush from 'web-push';
import { isAppError, type AppError } from '../../src/domain/errors.js';
import type { CallRequest, Customer, Device, PushSubscription } from '../../src/domain/model.js';
import type { NotificationPayload } from '../../src/notify/notification-payload.js';
import { createNotifier, type NotifierConfig } from '../../src/notify/notifier.js';
import { createSmsChannel } from '../../src/notify/sms-channel.js';
import { createWebPushChannel } from '../../src/notify/webpush-channel.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startFakePushService, verifyVapid, type FakePushService, type TestSubscription } from '../support/fake-push-service.js';
import { startFakeTwilio, TWILIO_INVALID_NUMBER, type FakeTwilio } from '../support/fake-twilio.js';

const logger = pino({ level: 'silent' });
const publicUrl = 'https://knock.example';
const t0 = new Date('2030-05-06T09:00:00Z');

function config(smsEnabled: boolean): NotifierConfig {
  return {
    server: { publicUrl },
    requests: { answerTimeLimitSeconds: 300, remindChoicesMinutes: [30, 60, 1440] },
    notify: { sms: { enabled: smsEnabled } },
    branding: { name: 'Acme' },
  };
}

async function expectUnreachable(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
    assert.equal(e.code, 'no_reachable_device');
    return e;
  }
  assert.fail('expected no_reachable_device');
}

describe('notify: notifier (real store, push service and Twilio doubles)', () => {
  let db: TestDatabase;
  let store: Store;
  let push: FakePushService;
  let twilio: FakeTwilio;
  let agentId: string;
  const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@knock.example' };
  // One channel (one sender thread) for every notifier of the suite.
  let webpushChannel: ReturnType<typeof createWebPushChannel>;

  before(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url });
    push = await startFakePushService();
    webpushChannel = createWebPushChannel({ vapid, logger, allowedEndpointOrigins: [push.origin] });
    twilio = await startFakeTwilio();
    const agent = await store.agents.create({
      username: `anna${randomBytes(3).toString('hex')}`,
      name: 'Anna',
      extension: String(100000 + randomInt(900000)),
      groups: [],
      role: 'agent',
      secrets: { passwordHash: 'unused', sipHa1: 'unused', sipHa1Sha256: null, sipRealm: 'knock.localhost' },
    });
    agentId = agent.id;
  });

  after(async () => {
    await webpushChannel.close();
    await push?.close();
    await twilio?.close();
    await store?.close();
    await db?.drop();
  });

  function notifier(opts: { smsEnabled?: boolean } = {}) {
    return createNotifier({
      store,
      channels: {
        webpush: webpushChannel,
        sms: createSmsChannel({
          sms: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006', apiBaseUrl: twilio.url },
          logger,
        }),
      },
      config: config(opts.smsEnabled ?? true),
      logger,
    });
  }

  async function customer(phoneE164: string | null): Promise<Customer> {
    return store.customers.create({ name: 'Chris Customer', phoneE164, timeZone: 'Europe/London', externalRef: null });
  }

  async function device(customerId: string, sub: PushSubscription | null, label = 'phone'): Promise<Device> {
    return store.devices.create({
      customerId,
      label,
      publicKeyJwk: { kty: 'EC', crv: 'P-256', x: randomBytes(32).toString('base64url'), y: randomBytes(32).toString('base64url') },
      keyThumbprint: randomBytes(32).toString('base64url'),
      webauthn: null,
      pushSubscription: sub,
      pinHash: null,
      credentialHash: randomBytes(32).toString('hex'),
    });
  }

  async function callRequest(customerId: string, reference = '12345'): Promise<CallRequest> {
    const { request } = await store.callRequests.create({
      state: 'notified',
      answerDeadline: new Date(t0.getTime() + 300_000),
      agentId,
      acceptedDeviceId: null,
      authMethod: null,
      authenticatedAt: null,
      scheduledFor: null,
      scheduleNote: null,
      snoozeUntil: null,
      holdUntil: null,
      attempts: 0,
      outcome: null,
      reference,
      reason: 'Your card payment was declined',
      customerId,
      groupId: null,
      requestedAt: t0,
      createdBy: agentId,
      idempotencyKey: null,
    });
    return request;
  }

  async function expire(request: CallRequest): Promise<CallRequest> {
    const { id, version, updatedAt: _u, reference: _r, reason: _re, customerId: _c, groupId: _g, requestedAt: _q, createdBy: _b, ...snapshot } =
      request;
    const updated = await store.callRequests.update(id, version, { ...snapshot, state: 'expired' });
    assert.ok(updated);
    return updated;
  }

  const only = (s: TestSubscription) => s.payloads() as NotificationPayload[];

  it('knocks on every device of the customer with who, what and the three choices', async () => {
    const c = await customer('+447700900001');
    const phone = push.createSubscription();
    const laptop = push.createSubscription();
    const d1 = await device(c.id, phone.subscription, 'phone');
    const d2 = await device(c.id, laptop.subscription, 'laptop');
    const request = await callRequest(c.id);
    const smsBefore = twilio.messages.length;

    const summary = await notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });

    assert.deepEqual(summary.delivered, ['webpush']);
    assert.deepEqual(summary.failed, []);
    for (const sub of [phone, laptop]) {
      const [p] = only(sub);
      assert.ok(p, 'the device received the knock');
      assert.equal(p.kind, 'knock');
      assert.equal(p.agentName, 'Anna');
      assert.equal(p.reference, '12345');
      assert.equal(p.reason, 'Your card payment was declined');
      assert.equal(p.title, 'Call request: case 12345');
      assert.equal(p.body, 'Anna from Acme would like to call you about case 12345.');
      assert.deepEqual(p.actions, { accept: true, schedule: true, snooze: true });
      assert.equal(p.replaces, null);
      assert.equal(p.expiresAt, request.answerDeadline.toISOString());
      assert.deepEqual(p.remindChoicesMinutes, [30, 60, 1440]);
      assert.equal(p.url, `${publicUrl}/app/#/requests/${request.id}`);
      assert.equal(sub.received()[0]!.headers['ttl'], '300');
      assert.equal((await verifyVapid(sub.received()[0]!.headers['authorization'], push.origin)).publicKey, vapid.publicKey);
    }
    assert.equal(twilio.messages.length, smsBefore, 'no SMS when push reached the customer');

    const records = await store.notifications.listFor(request.id);
    assert.equal(records.length, 2);
    assert.deepEqual(new Set(records.map((r) => r.deviceId)), new Set([d1.id, d2.id]));
    for (const r of records) {
      assert.equal(r.status, 'sent');
      assert.equal(r.channel, 'webpush');
      assert.equal(r.kind, 'knock');
    }
    // The id each device saw is the id the store keeps.
    assert.equal(records.find((r) => r.deviceId === d1.id)!.id, only(phone)[0]!.notificationId);
    assert.ok(records.some((r) => r.id === summary.notificationId));
  });

  it('replaces the knock with an "agent moved on" notice that allows scheduling only', async () => {
    const c = await customer(null);
    const sub = push.createSubscription();
    const d = await device(c.id, sub.subscription);
    const request = await callRequest(c.id, 'INC-42');
    const n = notifier();

    const first = await n.notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });
    const expired = await expire(request);
    const later = new Date(t0.getTime() + 300_000);
    const second = await n.notifyCustomer({ request: expired, agentName: 'Anna', kind: 'expired', now: later });

    const [knock, notice] = only(sub);
    assert.ok(knock && notice, 'both notifications reached the device');
    assert.equal(notice.kind, 'expired');
    assert.equal(notice.replaces, knock.notificationId);
    assert.equal(notice.replaces, first.notificationId);
    assert.notEqual(notice.notificationId, knock.notificationId);
    assert.deepEqual(notice.actions, { accept: false, schedule: true, snooze: false });
    assert.match(notice.body, /Anna from Acme has moved on/);
    assert.match(notice.body, /schedule a call about case INC-42/);
    // Same RFC 8030 topic: a push service still holding the knock drops it for the notice.
    assert.equal(sub.received()[1]!.headers['topic'], sub.received()[0]!.headers['topic']);

    const records = await store.notifications.listFor(request.id);
    assert.deepEqual(
      records.map((r) => [r.kind, r.deviceId, r.replacesId]),
      [
        ['knock', d.id, null],
        ['expired', d.id, first.notificationId],
      ],
    );
    assert.equal(records[1]!.id, second.notificationId);
  });

  it('forgets a subscription the push service says is gone and still reaches the other device', async () => {
    const c = await customer('+447700900002');
    const gone = push.createSubscription();
    const alive = push.createSubscription();
    push.respondWith(gone.path, 410);
    const dGone = await device(c.id, gone.subscription, 'old browser');
    const dAlive = await device(c.id, alive.subscription, 'phone');
    const request = await callRequest(c.id);
    const smsBefore = twilio.messages.length;
    const n = notifier();

    const summary = await n.notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });

    assert.deepEqual(summary.delivered, ['webpush']);
    assert.equal(summary.failed.length, 1);
    assert.equal(summary.failed[0]!.deviceId, dGone.id);
    assert.equal(only(alive).length, 1);
    assert.equal((await store.devices.get(dGone.id))!.pushSubscription, null, 'the gone subscription is cleared');
    assert.deepEqual((await store.devices.get(dAlive.id))!.pushSubscription, alive.subscription);
    assert.equal(twilio.messages.length, smsBefore, 'one device was reached: no SMS');
    const records = await store.notifications.listFor(request.id);
    const failed = records.find((r) => r.deviceId === dGone.id)!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /subscription_gone/);

    // The next notification does not try the forgotten subscription again.
    await n.notifyCustomer({ request, agentName: 'Anna', kind: 'reminder', now: new Date(t0.getTime() + 60_000) });
    assert.equal(gone.received().length, 1);
    assert.equal(only(alive).length, 2);
  });

  it('does not push to a revoked device', async () => {
    const c = await customer(null);
    const revoked = push.createSubscription();
    const current = push.createSubscription();
    const dRevoked = await device(c.id, revoked.subscription, 'lost phone');
    await device(c.id, current.subscription, 'new phone');
    await store.devices.revoke(dRevoked.id, t0);
    const request = await callRequest(c.id);

    await notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });

    assert.equal(revoked.received().length, 0);
    assert.equal(current.received().length, 1);
  });

  it('texts the link when no device accepts push', async () => {
    const c = await customer('+447700900003');
    await device(c.id, null);
    const request = await callRequest(c.id, 'CASE-9001');

    const summary = await notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });

    assert.deepEqual(summary.delivered, ['sms']);
    const sms = twilio.messages.at(-1)!;
    assert.equal(sms.to, '+447700900003');
    assert.match(sms.body, /Anna from Acme would like to call you about case CASE-9001\./);
    assert.ok(sms.body.includes(`${publicUrl}/app/#/requests/${request.id}`));
    const records = await store.notifications.listFor(request.id);
    assert.deepEqual(
      records.map((r) => [r.channel, r.deviceId, r.status]),
      [['sms', null, 'sent']],
    );
    assert.equal(records[0]!.id, summary.notificationId);
  });

  it("speaks the language of the customer's app: push per device, and the SMS", async () => {
    const c = await customer('+447700900013');
    const german = push.createSubscription();
    const english = push.createSubscription();
    const d1 = await device(c.id, german.subscription, 'Handy');
    await device(c.id, english.subscription, 'laptop');
    await store.devices.setLanguage(d1.id, 'de');
    const request = await callRequest(c.id, 'CASE-31');

    await notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });
    assert.equal(only(german)[0]!.title, 'Anrufanfrage: Vorgang CASE-31');
    assert.equal(only(german)[0]!.body, 'Anna von Acme möchte Sie zum Vorgang CASE-31 anrufen.');
    assert.equal(only(english)[0]!.body, 'Anna from Acme would like to call you about case CASE-31.');

    // No push reaches anyone: the SMS is in the language an app asked for.
    const c2 = await customer('+447700900014');
    const d2 = await device(c2.id, null);
    await store.devices.setLanguage(d2.id, 'de');
    const texted = await callRequest(c2.id, 'CASE-32');
    await notifier().notifyCustomer({ request: texted, agentName: 'Anna', kind: 'knock', now: t0 });
    assert.equal(twilio.messages.at(-1)!.body, `Anna von Acme möchte Sie zum Vorgang CASE-32 anrufen. Hier antworten: ${publicUrl}/app/#/requests/${texted.id}`);
  });

  it('falls back to SMS when every push fails', async () => {
    const c = await customer('+447700900004');
    const a = push.createSubscription();
    const b = push.createSubscription();
    push.respondWith(a.path, 500);
    push.respondWith(b.path, 500);
    await device(c.id, a.subscription);
    await device(c.id, b.subscription);
    const request = await callRequest(c.id, 'CASE-77');

    const summary = await notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 });

    assert.equal(a.received().length, 1, 'push was tried first');
    assert.equal(b.received().length, 1);
    assert.deepEqual(summary.delivered, ['sms']);
    assert.equal(summary.failed.length, 2);
    assert.ok(summary.failed.every((f) => f.channel === 'webpush' && /500/.test(f.detail)));
    const sms = twilio.messages.at(-1)!;
    assert.equal(sms.to, '+447700900004');
    assert.match(sms.body, /CASE-77/);
    const records = await store.notifications.listFor(request.id);
    assert.deepEqual(records.map((r) => `${r.channel}:${r.status}`).sort(), ['sms:sent', 'webpush:failed', 'webpush:failed']);
  });

  it('tells the agent when the customer has no device and no phone', async () => {
    const c = await customer(null);
    const request = await callRequest(c.id);

    const err = await expectUnreachable(notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 }));

    assert.equal(err.message, 'The customer could not be notified: no enrolled device, and no phone number on file.');
    assert.deepEqual(await store.notifications.listFor(request.id), []);
  });

  it('reports Twilio\'s invalid-number error to the agent and records it', async () => {
    const c = await customer(TWILIO_INVALID_NUMBER);
    const request = await callRequest(c.id);

    const err = await expectUnreachable(notifier().notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 }));

    assert.match(err.message, /the SMS could not be sent/);
    const failed = err.details?.failed as Array<{ channel: string; detail: string }>;
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.channel, 'sms');
    assert.equal(failed[0]!.detail, `Twilio error 21211 (HTTP 400): The 'To' number ${TWILIO_INVALID_NUMBER} is not a valid phone number.`);
    const [record] = await store.notifications.listFor(request.id);
    assert.equal(record!.status, 'failed');
    assert.match(record!.error ?? '', /21211/);
  });

  it('sends no SMS when SMS is disabled', async () => {
    const c = await customer('+447700900005');
    await device(c.id, null);
    const request = await callRequest(c.id);
    const requestsBefore = twilio.requests.length;

    const err = await expectUnreachable(
      notifier({ smsEnabled: false }).notifyCustomer({ request, agentName: 'Anna', kind: 'knock', now: t0 }),
    );

    assert.equal(err.message, 'The customer could not be notified: no device is open in the app or accepts push notifications, and SMS is not enabled.');
    assert.equal(twilio.requests.length, requestsBefore, 'Twilio was not called');
  });
});
