/**
 * The SMS channel through the real `twilio` client against a Twilio Messages API double on
 * loopback: what the customer's phone receives, and how Twilio's errors are reported.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildNotificationPayload, type NotificationPayload } from '../../src/notify/notification-payload.js';
import { createSmsChannel } from '../../src/notify/sms-channel.js';
import { startFakeTwilio, TWILIO_INVALID_NUMBER, type FakeTwilio } from '../support/fake-twilio.js';

const now = new Date('2030-03-04T10:00:00Z');
const requestId = '7d3c2b1a-0f9e-4d8c-b7a6-958473625140';

function payload(kind: 'knock' | 'expired'): NotificationPayload {
  return buildNotificationPayload({
    notificationId: 'n-1',
    replaces: null,
    kind,
    request: {
      id: requestId,
      reference: 'INC-778',
      reason: 'Private medical matter',
      state: kind === 'expired' ? 'expired' : 'notified',
      answerDeadline: new Date(now.getTime() + 300_000),
    },
    agentName: 'Anna',
    companyName: 'Acme',
    expiresAt: new Date(now.getTime() + 300_000),
    remindChoicesMinutes: [30],
    publicUrl: 'https://service.example/',
    now,
  });
}

/** A logger whose output the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), text: () => lines.join('') };
}

describe('notify: SMS channel (Twilio)', () => {
  let twilio: FakeTwilio;

  before(async () => {
    twilio = await startFakeTwilio();
  });
  after(async () => {
    await twilio.close();
  });

  function channel(overrides: { authToken?: string } = {}, logger = pino({ level: 'silent' })) {
    return createSmsChannel({
      sms: {
        accountSid: twilio.accountSid,
        authToken: overrides.authToken ?? twilio.authToken,
        from: '+15005550006',
        apiBaseUrl: twilio.url,
      },
      logger,
    });
  }

  it('texts the agent, the reference and the link, and returns Twilio\'s message sid', async () => {
    const result = await channel().send('+447700900123', payload('knock'), now);

    assert.equal(result.ok, true);
    const sms = twilio.messages.at(-1)!;
    assert.equal(result.ok && result.providerId, sms.sid);
    assert.match(sms.sid, /^SM/);
    assert.equal(sms.to, '+447700900123');
    assert.equal(sms.from, '+15005550006');
    assert.equal(
      sms.body,
      `Anna from Acme would like to call you about case INC-778. Answer here: https://service.example/app/#/requests/${requestId}`,
    );
    assert.ok(!sms.body.includes('medical'), 'the reason stays out of the text message');
  });

  it('offers scheduling, not answering, once the agent has moved on', async () => {
    await channel().send('+447700900123', payload('expired'), now);
    const sms = twilio.messages.at(-1)!;
    assert.match(sms.body, /moved on/);
    assert.match(sms.body, /Schedule a call here: https:\/\/service\.example\/app\/#\/requests\//);
  });

  it('reports Twilio\'s 21211 invalid-number error with its code and message', async () => {
    const before = twilio.messages.length;
    const result = await channel().send(TWILIO_INVALID_NUMBER, payload('knock'), now);

    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failure, 'rejected');
    assert.equal(
      !result.ok && result.detail,
      `Twilio error 21211 (HTTP 400): The 'To' number ${TWILIO_INVALID_NUMBER} is not a valid phone number.`,
    );
    assert.equal(twilio.messages.length, before, 'nothing was sent');
  });

  it('reports wrong credentials as error 20003 and never logs the auth token', async () => {
    const { logger, text } = capturingLogger();
    const wrongToken = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    const result = await channel({ authToken: wrongToken }, logger).send('+447700900123', payload('knock'), now);

    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.detail : '', /^Twilio error 20003 \(HTTP 401\): Authenticate$/);
    assert.equal(twilio.requests.at(-1)!.status, 401);
    const logged = text();
    assert.match(logged, /sms not sent/);
    assert.ok(!logged.includes(wrongToken), 'token not in logs');
    assert.ok(!logged.includes(Buffer.from(`${twilio.accountSid}:${wrongToken}`).toString('base64')), 'basic auth not in logs');
    assert.ok(!logged.includes('+447700900123'), 'the full phone number is not in logs');
  });

  it('reports a Twilio API that cannot be reached', async () => {
    const closed = await startFakeTwilio();
    await closed.close();
    const result = await createSmsChannel({
      sms: { accountSid: closed.accountSid, authToken: closed.authToken, from: '+15005550006', apiBaseUrl: closed.url },
      logger: pino({ level: 'silent' }),
    }).send('+447700900123', payload('knock'), now);

    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failure, 'unreachable');
    assert.match(!result.ok ? result.detail : '', /ECONNREFUSED/);
  });

  it('refuses to start without credentials', () => {
    assert.throws(
      () =>
        createSmsChannel({
          sms: { accountSid: '', authToken: '', from: '', apiBaseUrl: twilio.url },
          logger: pino({ level: 'silent' }),
        }),
      (e: Error & { code?: string }) => e.code === 'validation_failed',
    );
  });
});
