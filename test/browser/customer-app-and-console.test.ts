/**
 * The customer app and the agent console in a real browser (Debian's chromium), against the
 * whole service on real PostgreSQL: the customer's phone and the agent's desk are two separate
 * browsers. The phone's fingerprint reader is a CDP virtual authenticator.
 *
 * The call itself stops at the SIP server's door: a SIP-over-WebSocket stand-in receives the
 * app's INVITE (so the test sees the token it carries) and answers it. The real call, with audio
 * through drachtio-server and FreeSWITCH, is webrtc-call.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyDeviceProof } from '../../src/security/device-proof.js';
import { addVirtualAuthenticator, browserSkipReason, DESK, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import { startFakeSipWebSocket, type FakeSipWebSocket } from '../support/fake-sip-websocket.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';
import {
  appCard,
  consoleRow,
  CUSTOMER,
  deviceCredential,
  enrolThroughApp,
  heading,
  requestCallInConsole,
  setUpPeople,
  signInToConsole,
  startPagesService,
  closePagesAfterSuite,
  type PagesService,
  type People,
} from '../support/web-pages.js';

const PIN = '482916';

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('customer app and agent console in the browser', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let sip: FakeSipWebSocket;
  let phone: BrowserSession;
  let desk: BrowserSession;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    sip = await startFakeSipWebSocket();
    svc = await startPagesService({ KNOCK_SIP__WS_URL: sip.url, KNOCK_SIP__CUSTOMER_CALL_URI: 'sip:support@knock.localhost' });
    people = await setUpPeople(svc.t);
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone, notificationsFor: svc.origin });
    await addVirtualAuthenticator(phone.cdp);
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
  });

  closePagesAfterSuite(() => ({ phone, desk, svc, others: [sip] }));

  it('the customer enrols the phone in the app with a passkey and a PIN', async () => {
    const summary = await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: PIN, passkey: true });
    assert.match(summary, /PIN: set/);
    assert.match(summary, /Fingerprint or face: set up/);
    const devices = await svc.t.service.deps.store.devices.listForCustomer(people.customerId);
    assert.equal(devices.length, 1);
    assert.ok(devices[0]!.webauthn, 'the passkey is registered on the server');
    assert.equal(devices[0]!.hasPin, true);
    // The device key is a P-256 public key on the server; its private half never left the page.
    assert.equal(devices[0]!.publicKeyJwk.crv, 'P-256');
    const extractable = await phone.page.evaluate(async () => {
      const storage = await import('/app/storage.js' as string);
      return (await storage.loadDevice()).keyPair.privateKey.extractable as boolean;
    });
    assert.equal(extractable, false);
  });

  it('the agent requests a call; the open app shows who, the reference and the reason with the three answers', async () => {
    await signInToConsole(desk.page, svc.origin);
    await desk.page.locator('.availability label', { hasText: 'Available' }).click();
    assert.equal(await desk.page.getByRole('radio', { name: 'Available' }).isChecked(), true);
    await waitFor('the agent to be available', async () => (await svc.t.service.deps.store.agents.get(people.agentId))?.availability === 'available');
    const confirmation = await requestCallInConsole(desk.page, 'CASE-1001', 'Card payment check');
    assert.match(confirmation, /Call request sent to Chris Customer \(CASE-1001\)/);
    await consoleRow(desk.page, 'CASE-1001').locator('.state', { hasText: 'Notified' }).waitFor();

    // The phone's page was open all along: the live channel brings the request in.
    const card = appCard(phone.page, 'CASE-1001');
    await card.waitFor();
    assert.equal(await card.getByRole('heading').textContent(), 'Anna Agent would like to call you');
    assert.match((await card.textContent()) ?? '', /Reference\s*CASE-1001/);
    assert.match((await card.textContent()) ?? '', /Reason\s*Card payment check/);
    assert.match((await card.locator('.deadline').textContent()) ?? '', /Please answer by \d\d:\d\d/);
    await card.getByRole('link', { name: 'Accept call' }).waitFor();
    await card.getByRole('link', { name: 'Schedule a call' }).waitFor();
    await card.getByRole('button', { name: 'Remind me later' }).waitFor();
    await screenshot(phone.page, 'customer-notification');
  });

  it('Accept with the biometric verifies the customer; the app calls with the token; the console shows "verified" live', async () => {
    const requestId = (await appCard(phone.page, 'CASE-1001').getAttribute('data-request-id'))!;
    await appCard(phone.page, 'CASE-1001').getByRole('link', { name: 'Accept call' }).click();

    // The virtual authenticator answers navigator.credentials.get; the app then shows it is calling.
    await heading(phone.page, 'Verified — calling…');
    assert.match((await phone.page.locator('.verified-how').textContent()) ?? '', /You confirmed it is you with your fingerprint or face at \d\d:\d\d/);
    assert.match((await phone.page.locator('dd.token-status').textContent()) ?? '', /^Your verification is valid until \d\d:\d\d$/);
    assert.equal(await phone.page.locator('.sip-uri').count(), 0, 'no SIP address shown to the customer');

    // The INVITE leaves the page with the pre-authentication token as a bearer credential.
    const invite = await sip.nextInvite();
    assert.equal(invite.requestUri, 'sip:support@knock.localhost');
    const bearer = /^Bearer (\S+)$/.exec(invite.header('Authorization') ?? '');
    assert.ok(bearer, `INVITE without a bearer token: ${invite.header('Authorization')}`);
    const token = bearer[1]!;
    const claims = jwtPayload(token);
    assert.equal(claims.crq, requestId);
    assert.equal(claims.sub, people.customerId);
    assert.equal(claims.auth_method, 'biometric');
    assert.equal(claims.aud, svc.t.config.sip.domain);
    assert.ok(await svc.t.service.deps.store.tokens.get(String(claims.jti)), 'the token is one the service issued');
    // ...and the device key's proof for this very INVITE, which the SIP server's check accepts.
    const proof = invite.header('Knock-Device-Proof');
    assert.ok(proof, 'INVITE without a Knock-Device-Proof');
    const device = await svc.t.service.deps.store.devices.get(String(claims.did));
    const fromTag = /;\s*tag=([^;>\s]+)/i.exec(invite.header('From') ?? '')?.[1] ?? '';
    const binding = { jti: String(claims.jti), callId: invite.header('Call-ID') ?? '', fromTag };
    assert.doesNotThrow(() =>
      verifyDeviceProof({ ...binding, proof, expectedThumbprint: (claims.cnf as { jkt: string }).jkt, device }),
    );
    assert.throws(() => verifyDeviceProof({ ...binding, callId: 'another-call', proof, expectedThumbprint: (claims.cnf as { jkt: string }).jkt, device }), { code: 'token_misbound' });
    assert.match(invite.body, /m=audio /, 'the INVITE offers audio');
    await phone.page.locator('.call-status', { hasText: 'checking your verification' }).waitFor();
    await screenshot(phone.page, 'verified-calling');

    // The agent's console follows without a reload.
    const row = consoleRow(desk.page, 'CASE-1001');
    await row.locator('.state', { hasText: /Verified \(biometric at \d\d:\d\d\)/ }).waitFor();
    await screenshot(desk.page, 'console-verified');

    // When the SIP server refuses the call, the customer is told why in plain words.
    invite.reject(403, 'Forbidden', { Warning: `399 ${svc.t.config.sip.domain} "token_replayed: The token was already used."` });
    const failed = phone.page.getByRole('alert');
    await failed.filter({ hasText: 'Call failed' }).waitFor();
    assert.equal(await failed.textContent(), 'Call failed: this verification was already used for another call.');
    await heading(phone.page, 'Call failed');
    // The request is still this phone's: it can try again with a fresh confirmation.
    await phone.page.getByRole('link', { name: 'Try again' }).waitFor();

    // The agent closes the verified request (left alone, its hold would run out).
    await consoleRow(desk.page, 'CASE-1001').getByRole('button', { name: 'Cancel request CASE-1001' }).click();
    await consoleRow(desk.page, 'CASE-1001').locator('.state', { hasText: 'Cancelled' }).waitFor();

    // No credential of either side, nor the token, reached the service's logs.
    const logs = svc.t.logs.join('\n');
    const agentToken = (await desk.page.evaluate("JSON.parse(sessionStorage.getItem('knock-console') || '{}').token")) as string;
    assert.ok(agentToken);
    assert.ok(!logs.includes(agentToken), 'the console sign-in token was logged');
    assert.ok(!logs.includes(await deviceCredential(phone.page)), 'the device credential was logged');
    assert.ok(!logs.includes(token), 'the pre-authentication token was logged');
  });

  it('Remind me later offers the configured choices and puts the request off', async () => {
    // The SIP side writes a call record for each call; the console's history lists it.
    const [first] = await svc.t.service.deps.store.callRequests.list({ customerId: people.customerId });
    await svc.t.service.deps.store.callRecords.create({
      callRequestId: first!.id,
      sessionId: null,
      customerId: people.customerId,
      agentId: people.agentId,
      direction: 'inbound',
      startedAt: new Date(),
      answeredAt: null,
      endedAt: new Date(),
      outcome: 'failed',
      verification: 'token:biometric',
    });
    await requestCallInConsole(desk.page, 'CASE-1002', 'Address change');
    await phone.page.getByRole('link', { name: 'Back to your call requests' }).click();
    const card = appCard(phone.page, 'CASE-1002');
    await card.waitFor();
    const group = card.getByRole('group', { name: 'Remind me in' });
    assert.equal(await group.isVisible(), false, 'the choices open on request');
    // With the keyboard only: the disclosure opens and focus lands on the first choice.
    await card.getByRole('button', { name: 'Remind me later' }).focus();
    await phone.page.keyboard.press('Enter');
    assert.deepEqual(await group.getByRole('button').allTextContents(), ['In 30 minutes', 'In 1 hour', 'In 1 day']);
    assert.equal(await phone.page.evaluate('document.activeElement.textContent'), 'In 30 minutes');
    await phone.page.keyboard.press('Enter');
    await card.locator('.message.info', { hasText: /We will remind you at \d\d:\d\d/ }).waitFor();
    await consoleRow(desk.page, 'CASE-1002').locator('.state', { hasText: /Remind me later — reminder at \d\d:\d\d/ }).waitFor();
    const call = desk.page.locator('#history li', { hasText: 'CASE-1001' });
    await call.waitFor();
    assert.match((await call.textContent()) ?? '', /Chris Customer · CASE-1001 · incoming\s*Outcome: the call failed · verified by biometric/);
  });

  it('Schedule: the picker offers open times in the customer’s zone; booking gives an .ics and a callback in the console; it can be changed and cancelled', async () => {
    const card = appCard(phone.page, 'CASE-1002');
    await card.getByRole('link', { name: 'Schedule a call' }).click();
    await heading(phone.page, 'Schedule a call');
    assert.match((await phone.page.locator('#slot-zone').textContent()) ?? '', /your time zone \(America\/New_York\)/);

    const days = phone.page.getByLabel('Day', { exact: true });
    const dayOptions = await days.locator('option').allTextContents();
    assert.ok(dayOptions.length >= 2, `several days are offered: ${dayOptions.join(', ')}`);
    await days.selectOption({ index: 1 });
    const times = phone.page.getByLabel('Time', { exact: true });
    const chosen = await times.locator('option').nth(2).getAttribute('value');
    await times.selectOption(chosen!);
    const chosenLabel = (await times.locator('option:checked').textContent())!;
    await phone.page.getByLabel('Note for the adviser (optional)').fill('Please call after lunch');
    await screenshot(phone.page, 'schedule-picker');

    // What the customer sees is the server's slot in their zone.
    const expected = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: CUSTOMER.timeZone }).format(new Date(chosen!));
    assert.equal(chosenLabel, expected);

    await phone.page.getByRole('button', { name: 'Book this time' }).click();
    await heading(phone.page, 'Your call is booked');
    const summary = (await phone.page.locator('.slot-summary').textContent()) ?? '';
    assert.ok(summary.startsWith(dayOptions[1]!) && summary.endsWith(`${chosenLabel} (America/New_York)`), summary);

    const [download] = await Promise.all([phone.page.waitForEvent('download'), phone.page.getByRole('button', { name: 'Add to calendar' }).click()]);
    assert.equal(download.suggestedFilename(), 'callback-CASE-1002.ics');
    const ics = readFileSync((await download.path())!, 'utf8');
    assert.match(ics, /BEGIN:VCALENDAR/);
    assert.match(ics, new RegExp(`DTSTART:${new Date(chosen!).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}`));
    assert.match(ics, /CASE-1002/);

    const callback = desk.page.locator('#callbacks li', { hasText: 'CASE-1002' });
    await callback.waitFor();
    assert.match((await callback.textContent()) ?? '', /Note: Please call after lunch/);
    await consoleRow(desk.page, 'CASE-1002').locator('.state', { hasText: 'Scheduled for' }).waitFor();

    // Change the time: the same screen, starting from the booked day.
    await phone.page.getByRole('link', { name: 'Change time' }).click();
    await heading(phone.page, 'Change your call time');
    const later = await phone.page.getByLabel('Time', { exact: true }).locator('option').nth(4).getAttribute('value');
    await phone.page.getByLabel('Time', { exact: true }).selectOption(later!);
    await phone.page.getByRole('button', { name: 'Change to this time' }).click();
    await heading(phone.page, 'Your call is booked');
    await waitFor('the callback to move', async () =>
      (await svc.t.service.deps.store.callRequests.list({ customerId: people.customerId, states: ['scheduled'] })).some(
        (r) => r.reference === 'CASE-1002' && r.scheduledFor?.toISOString() === later,
      ),
    );

    // Cancel it: the console's list follows.
    await phone.page.getByRole('button', { name: 'Cancel this call' }).click();
    await phone.page.getByRole('button', { name: 'Yes, cancel the call' }).click();
    await phone.page.getByRole('status').filter({ hasText: 'Your call has been cancelled.' }).first().waitFor();
    await consoleRow(desk.page, 'CASE-1002').locator('.state', { hasText: 'Cancelled — cancelled by the customer' }).waitFor();
    await waitFor('the callback to leave the console list', async () => (await desk.page.locator('#callbacks li', { hasText: 'CASE-1002' }).count()) === 0);
  });
});
