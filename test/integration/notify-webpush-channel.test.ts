/**
 * The Web Push channel against a push service double on loopback: what a device would decrypt,
 * the RFC 8030 headers, the VAPID signature, and how push service answers are reported.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import webpush from 'web-push';
import { buildNotificationPayload, type NotificationPayload } from '../../src/notify/notification-payload.js';
import type { WebPushChannel } from '../../src/notify/channel.js';
import { createWebPushChannel, topicFor, type WebPushChannelOptions } from '../../src/notify/webpush-channel.js';
import type { VapidKeys } from '../../src/notify/vapid-keys.js';
import { startFakePushService, verifyVapid, type FakePushService } from '../support/fake-push-service.js';

const logger = pino({ level: 'silent' });
const now = new Date('2030-03-04T10:00:00Z');
const requestId = '0b6f8e3a-5c1d-4e2f-9a7b-3c4d5e6f7a8b';

function payload(kind: 'knock' | 'expired', reason = 'Your card payment was declined'): NotificationPayload {
  return buildNotificationPayload({
    notificationId: 'n-1',
    replaces: null,
    kind,
    request: {
      id: requestId,
      reference: '12345',
      reason,
      state: kind === 'expired' ? 'expired' : 'notified',
      answerDeadline: new Date(now.getTime() + 300_000),
    },
    agentName: 'Anna',
    companyName: 'Acme',
    expiresAt: new Date(now.getTime() + 300_000),
    remindChoicesMinutes: [30, 60, 1440],
    publicUrl: 'https://service.example',
    now,
  });
}

describe('notify: web push channel', () => {
  let push: FakePushService;
  let vapid: VapidKeys;

  before(async () => {
    push = await startFakePushService();
    vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:ops@example.com' };
  });
  after(async () => {
    await push.close();
  });

  // Each channel has its own sender thread: end them with their test.
  let opened: WebPushChannel[] = [];
  afterEach(async () => {
    await Promise.all(opened.map((c) => c.close()));
    opened = [];
  });
  function open(options: Partial<WebPushChannelOptions> = {}): WebPushChannel {
    // The double listens on plain HTTP on loopback: allowed by configuration, as in the tests' service.
    const created = createWebPushChannel({ vapid, logger, allowedEndpointOrigins: [push.origin], ...options });
    opened.push(created);
    return created;
  }

  it('delivers an encrypted knock the device can read, with the RFC 8030 headers', async () => {
    const device = push.createSubscription();
    const channel = open();

    const result = await channel.send(device.subscription, payload('knock'), now);

    assert.deepEqual(result, { ok: true, providerId: null });
    const [msg] = device.received();
    assert.ok(msg, 'the push service received the message');
    assert.equal(msg.headers['content-encoding'], 'aes128gcm');
    assert.equal(msg.headers['ttl'], '300', 'TTL is the time left until the answer deadline');
    assert.equal(msg.headers['urgency'], 'high');
    assert.equal(msg.headers['topic'], topicFor(requestId));
    assert.equal(msg.headers['topic'], requestId.replaceAll('-', ''));
    assert.ok(!msg.body.includes(Buffer.from('Anna')), 'the body on the wire is not plaintext');

    const seen = JSON.parse(device.decrypt(msg.body).toString('utf8')) as NotificationPayload;
    assert.equal(seen.agentName, 'Anna');
    assert.equal(seen.reference, '12345');
    assert.equal(seen.reason, 'Your card payment was declined');
    assert.deepEqual(seen.actions, { accept: true, schedule: true, snooze: true });
    assert.equal(seen.body, 'Anna from Acme would like to call you about case 12345.');
    assert.equal(seen.url, `https://service.example/app/#/requests/${requestId}`);
    assert.deepEqual(seen.remindChoicesMinutes, [30, 60, 1440]);
  });

  it('signs a VAPID token for the push service origin with the configured key', async () => {
    const device = push.createSubscription();
    await open().send(device.subscription, payload('knock'), now);

    const check = await verifyVapid(device.received()[0]!.headers['authorization'], push.origin);
    assert.equal(check.publicKey, vapid.publicKey);
    assert.equal(check.claims.sub, 'mailto:ops@example.com');
    await assert.rejects(verifyVapid(device.received()[0]!.headers['authorization'], 'https://other.example'));
  });

  it('sends an expired notice at normal urgency, allowing scheduling only', async () => {
    const device = push.createSubscription();
    await open().send(device.subscription, payload('expired'), now);

    const msg = device.received()[0]!;
    assert.equal(msg.headers['urgency'], 'normal');
    const seen = device.payloads()[0] as NotificationPayload;
    assert.deepEqual(seen.actions, { accept: false, schedule: true, snooze: false });
    assert.match(seen.body, /moved on/);
  });

  it('keeps a very long reason within the Web Push size limit', async () => {
    const device = push.createSubscription();
    const result = await open().send(device.subscription, payload('knock', 'x'.repeat(10_000)), now);

    assert.equal(result.ok, true);
    const seen = device.payloads()[0] as NotificationPayload;
    assert.ok(seen.reason.length <= 300);
    assert.ok(device.received()[0]!.body.length <= 4096);
  });

  it('reports 410 Gone as a subscription to forget', async () => {
    const device = push.createSubscription();
    push.respondWith(device.path, 410);

    const result = await open().send(device.subscription, payload('knock'), now);

    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failure, 'subscription_gone');
  });

  it('reports a 500 as rejected without forgetting the subscription', async () => {
    const device = push.createSubscription();
    push.respondWith(device.path, 500);

    const result = await open().send(device.subscription, payload('knock'), now);

    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failure, 'rejected');
    assert.match(!result.ok ? result.detail : '', /500/);
  });

  it('gives up on a push service that never answers, within the timeout', async () => {
    // Accepts the connection and never responds.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const device = push.createSubscription();
    try {
      const result = await open({ timeoutMs: 300, allowedEndpointOrigins: [`http://127.0.0.1:${port}`] }).send(
        { ...device.subscription, endpoint: `http://127.0.0.1:${port}/push/x` },
        payload('knock'),
        now,
      );
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.failure, 'unreachable');
      assert.match(!result.ok ? result.detail : '', /did not answer within 300 ms/);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses plain-HTTP endpoints whose origin is not allowed', async () => {
    const device = push.createSubscription();
    const result = await open().send(
      { ...device.subscription, endpoint: 'http://push.example.com/x' },
      payload('knock'),
      now,
    );
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.detail : '', /https/);
  });

  it('matches each answer to its own send when many are in flight on one channel', async () => {
    const channel = open();
    const devices = Array.from({ length: 24 }, () => push.createSubscription());
    devices.forEach((d, i) => {
      if (i % 3 === 1) push.respondWith(d.path, 410);
      if (i % 3 === 2) push.respondWith(d.path, 500);
    });

    const results = await Promise.all(devices.map((d) => channel.send(d.subscription, payload('knock'), now)));

    results.forEach((result, i) => {
      const expected = ['ok', 'subscription_gone', 'rejected'][i % 3];
      assert.equal(result.ok ? 'ok' : result.failure, expected, `device ${i}`);
    });
    assert.equal(devices.filter((d) => d.received().length === 1).length, 24, 'each device got exactly its message');
  });

  it('ends a send in flight when the channel is closed, and sends nothing after', async () => {
    let requests = 0;
    const silent: Server = createServer(() => {
      requests++;
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const device = push.createSubscription();
    const channel = open({ timeoutMs: 30_000, allowedEndpointOrigins: [push.origin, `http://127.0.0.1:${port}`] });
    try {
      const inFlight = channel.send({ ...device.subscription, endpoint: `http://127.0.0.1:${port}/push/x` }, payload('knock'), now);
      while (requests === 0) await new Promise((r) => setTimeout(r, 10));

      await channel.close();
      const result = await inFlight;
      assert.equal(!result.ok && result.failure, 'unreachable');
      assert.match(!result.ok ? result.detail : '', /stopped/);

      const after = await channel.send(device.subscription, payload('knock'), now);
      assert.equal(!after.ok && after.failure, 'unreachable');
      assert.equal(device.received().length, 0, 'nothing reached the push service after close');
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses VAPID keys that do not belong together', () => {
    const other = webpush.generateVAPIDKeys();
    assert.throws(
      () => createWebPushChannel({ vapid: { ...vapid, privateKey: other.privateKey }, logger }),
      (e: Error & { code?: string }) => e.code === 'validation_failed',
    );
  });
});
