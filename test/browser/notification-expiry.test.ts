/**
 * The notification side of the customer app in a real browser: a Web Push message from the
 * service (through the push service stand-in) reaches the app's service worker, which shows the
 * adviser, the reference and the reason with its buttons; after the answer time limit the open
 * app and the replacing notification offer only Schedule, and the console shows "expired".
 */
import assert from 'node:assert/strict';
import type { Page, Worker } from 'playwright-core';
import { browserSkipReason, deliverPush, DESK, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import type { TestSubscription } from '../support/fake-push-service.js';
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

interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  actions: string[];
}

/** What the service worker is showing for one call request. */
async function shownFor(page: Page, requestId: string): Promise<ShownNotification[]> {
  return page.evaluate(async (tag) => {
    const nav = (globalThis as any).navigator;
    const registration = await nav.serviceWorker.ready;
    const shown = await registration.getNotifications({ tag });
    return shown.map((n: any) => ({ title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a: any) => a.title) }));
  }, `call-request-${requestId}`);
}

async function serviceWorker(s: BrowserSession): Promise<Worker> {
  return s.context.serviceWorkers()[0] ?? (await s.context.waitForEvent('serviceworker'));
}

describe('notifications: push, buttons and expiry in the browser', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let desk: BrowserSession;
  let push: TestSubscription;
  let requestId: string;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    // A short answer time limit, so the request expires during the test.
    svc = await startPagesService({ KNOCK_REQUESTS__ANSWER_TIME_LIMIT_SECONDS: '8' });
    people = await setUpPeople(svc.t);
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone, notificationsFor: svc.origin });
    desk = await openBrowser({ viewport: DESK });
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: '482916', passkey: false });
    // Headless chromium has no route to a real push service: the device's subscription points at
    // the stand-in, and the test hands what arrives there to the browser's service worker.
    push = svc.t.push.createSubscription();
    const saved = await svc.t.call('PUT', '/api/v1/devices/me/push-subscription', { token: await deviceCredential(phone.page), body: push.subscription });
    assert.equal(saved.status, 204, saved.text);
    await signInToConsole(desk.page, svc.origin);
  });

  closePagesAfterSuite(() => ({ phone, desk, svc }));

  it('a knock arrives by push and the service worker shows the adviser, reference and reason with Accept and Schedule', async () => {
    await requestCallInConsole(desk.page, 'CASE-2001', 'Card payment check');
    const payload = await waitFor('the push message', () => push.payloads()[0] as Record<string, any> | undefined);
    requestId = payload.callRequestId;
    await deliverPush(phone.cdp, svc.origin, JSON.stringify(payload));

    const [shown] = await waitFor('the notification', async () => {
      const n = await shownFor(phone.page, requestId);
      return n.length ? n : null;
    });
    assert.equal(shown!.title, 'Call request: case CASE-2001');
    assert.match(shown!.body, /Anna Agent from Knock would like to call you about case CASE-2001\./);
    assert.match(shown!.body, /Reason: Card payment check/);
    // Chromium shows two buttons; Remind me later is on the app's screen.
    assert.deepEqual(shown!.actions, ['Accept call', 'Schedule']);

    // The open app shows the same request with all three answers.
    const card = appCard(phone.page, 'CASE-2001');
    await card.getByRole('link', { name: 'Accept call' }).waitFor();
    await card.getByRole('button', { name: 'Remind me later' }).waitFor();
  });

  it('the notification’s Schedule button opens the app on the schedule screen', async () => {
    const worker = await serviceWorker(phone);
    await worker.evaluate(async (id) => {
      const sw = globalThis as any;
      const [n] = await sw.registration.getNotifications({ tag: `call-request-${id}` });
      await sw.knockNotificationClick('schedule', n.data);
    }, requestId);
    await heading(phone.page, 'Schedule a call');
    assert.match(phone.page.url(), new RegExp(`#/requests/${requestId}/schedule$`));
    await phone.page.getByRole('link', { name: 'Back' }).click();
    await heading(phone.page, 'Call request');
  });

  it('after the answer time limit the app and the replacing notification offer only Schedule; the console shows it expired', async () => {
    const card = appCard(phone.page, 'CASE-2001');
    await phone.page.locator('article.request-card[data-state="expired"]').waitFor({ timeout: 30_000 });
    assert.equal(await card.getByRole('heading').textContent(), 'Missed call request from Anna Agent');
    assert.match((await card.textContent()) ?? '', /Anna Agent has moved on to other customers\. You can still schedule a call\./);
    assert.equal(await card.getByRole('link', { name: 'Accept call' }).count(), 0);
    assert.equal(await card.getByRole('button', { name: 'Remind me later' }).count(), 0);
    await card.getByRole('link', { name: 'Schedule a call' }).waitFor();

    await consoleRow(desk.page, 'CASE-2001').locator('.state', { hasText: 'Expired — no answer in time' }).waitFor();
    const expired = await waitFor('the "moved on" push', () => push.payloads().find((p: any) => p.kind === 'expired') as Record<string, any> | undefined);
    await deliverPush(phone.cdp, svc.origin, JSON.stringify(expired));
    const shown = await waitFor('the replacing notification', async () => {
      const n = await shownFor(phone.page, requestId);
      return n.length === 1 && n[0]!.title.startsWith('Missed') ? n[0] : null;
    });
    assert.equal(shown.title, 'Missed call request: case CASE-2001');
    assert.deepEqual(shown.actions, ['Schedule a call']);
    await screenshot(phone.page, 'expired-notification');
  });
});
