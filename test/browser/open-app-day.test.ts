/**
 * A customer whose browser denies notifications (and so has no Web Push) is still reached while
 * the app is open: the agent knocks in the console, the open app shows the knock over its live
 * channel, the customer picks Remind me later, the reminder comes back (the test moves the
 * service's clock so the 30-minute reminder is due within seconds), and the customer accepts with
 * the fingerprint; the app's call reaches a SIP-over-WebSocket stand-in with its token, fails,
 * and the customer tries again with a fresh fingerprint and a new token.
 */
import assert from 'node:assert/strict';
import { addVirtualAuthenticator, browserSkipReason, DESK, openBrowser, PHONE, type BrowserSession } from '../support/browser.js';
import { startFakeSipWebSocket, type FakeSipWebSocket } from '../support/fake-sip-websocket.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';
import {
  appCard,
  closePagesAfterSuite,
  consoleRow,
  CUSTOMER,
  enrolThroughApp,
  heading,
  requestCallInConsole,
  setUpPeople,
  signInToConsole,
  startPagesService,
  type PagesService,
  type People,
} from '../support/web-pages.js';

describe('an open app with notifications denied: knock, remind me later, accept, try again', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let sip: FakeSipWebSocket;
  let phone: BrowserSession;
  let desk: BrowserSession;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    sip = await startFakeSipWebSocket();
    svc = await startPagesService({
      KNOCK_SIP__WS_URL: sip.url,
      KNOCK_SIP__CUSTOMER_CALL_URI: 'sip:support@knock.localhost',
      KNOCK_REQUESTS__REMIND_CHOICES_MINUTES: '[30,60,1440]',
      // Only the open app can reach this customer: no push (denied) and no SMS.
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
    });
    people = await setUpPeople(svc.t);
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone });
    // Granting nothing denies every permission for the origin, notifications included.
    await phone.context.grantPermissions([], { origin: svc.origin });
    await addVirtualAuthenticator(phone.cdp);
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
  });

  closePagesAfterSuite(() => ({ phone, desk, svc, others: [sip] }));

  it('walks the knock to the call with the app open and notifications denied', async () => {
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: '482916', passkey: true });
    await phone.page.goto(`${svc.origin}/app/#/`);
    assert.equal(await phone.page.evaluate('Notification.permission'), 'denied');
    await phone.page.locator('#live-status', { hasText: 'Live' }).waitFor();
    const [device] = await svc.t.service.deps.store.devices.listForCustomer(people.customerId);
    assert.equal(device!.pushSubscription, null, 'no push subscription');

    // The knock reaches the open app, and the agent is told so.
    await signInToConsole(desk.page, svc.origin);
    const confirmation = await requestCallInConsole(desk.page, 'CASE-5001', 'Card payment check');
    assert.match(confirmation, /reached in their open app/);
    const notice = phone.page.locator('.in-app-notice[data-kind="knock"]');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /Anna Agent/);
    const card = appCard(phone.page, 'CASE-5001');
    await card.waitFor();
    const requestId = (await card.getAttribute('data-request-id'))!;

    // Remind me later, in 30 minutes: chosen with the service's clock 30 minutes (less 2 s)
    // behind, so the reminder's job comes due 2 s from now in real time.
    const back = 30 * 60_000 - 2_000;
    svc.t.advance(-back);
    try {
      await card.getByRole('button', { name: 'Remind me later' }).click();
      await card.getByRole('button', { name: 'In 30 minutes' }).click();
      await card.locator('.message.info', { hasText: /We will remind you at \d\d:\d\d\. You can still accept the call until then\./ }).waitFor();
    } finally {
      svc.t.advance(back);
    }
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /Remind me later — reminder at/ }).waitFor();

    // The reminder arrives in the open app, with a fresh answer time.
    await phone.page.locator('.in-app-notice[data-kind="reminder"]').waitFor({ timeout: 20_000 });
    await appCard(phone.page, 'CASE-5001').locator('.deadline', { hasText: /Please answer by \d\d:\d\d/ }).waitFor();
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: 'Notified' }).waitFor();
    const channels = (await svc.t.service.deps.store.notifications.listFor(requestId)).map((n) => `${n.kind}:${n.channel}:${n.status}`);
    assert.deepEqual(channels, ['knock:app:sent', 'reminder:app:sent']);

    // Accept with the fingerprint: the app calls with its token.
    await appCard(phone.page, 'CASE-5001').getByRole('link', { name: 'Accept call' }).click();
    await heading(phone.page, 'Verified — calling…');
    const invite = await sip.nextInvite();
    assert.match(invite.header('Authorization') ?? '', /^Bearer \S+$/);
    await waitFor('the request verified', async () => (await svc.t.service.deps.store.callRequests.get(requestId))?.state === 'authenticated');
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /Verified \(biometric/ }).waitFor();

    // The call fails: the app says so and offers to try again, which asks for the fingerprint
    // afresh and calls with a new token.
    invite.reject(503, 'Service Unavailable');
    await heading(phone.page, 'Call failed');
    await phone.page.getByRole('link', { name: 'Try again' }).click();
    await heading(phone.page, 'Verified — calling…');
    const again = await sip.nextInvite();
    const first = (invite.header('Authorization') ?? '').slice(7);
    const second = (again.header('Authorization') ?? '').slice(7);
    assert.ok(second && second !== first, 'a new token for the new try');
    const accepts = (await svc.t.service.deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'request.accept' && e.decision === 'allow');
    assert.equal(accepts.length, 2, 'accepted twice, each with its own authentication');
    again.reject(503, 'Service Unavailable');
  });
});
