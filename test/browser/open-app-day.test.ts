/**
 * A customer's and an agent's day, end to end, on real servers (chromium, drachtio-server with its
 * WebSocket listener, FreeSWITCH, a sipp desk phone), for a bank branded from config:
 *
 * Chris's browser denies notifications, so only the open app reaches him: the agent knocks in the
 * console, the open app shows it, Chris picks Remind me later, the reminder comes back (the test
 * moves the service's clock so the 30-minute reminder is due within seconds), he accepts with the
 * fingerprint, the call fails (the connection to the call server drops), he tries again with a
 * fresh fingerprint and the call connects to the agent's desk phone. Dana's phone speaks German:
 * she schedules a call, is offered no public holiday, books a working day, and her calendar entry
 * says that she calls (the group's mode). The console shows each step with dates and reasons.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createCustomer } from '../../src/flows/directory.js';
import { issueEnrollmentCode } from '../../src/flows/enrollment.js';
import { addVirtualAuthenticator, DESK, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import { fsChannels, received } from '../support/call-center.js';
import type { FreeswitchServer } from '../support/freeswitch-server.js';
import { sipPagesSkipReason, startSipPages, type SipPages } from '../support/sip-pages.js';
import { startSippUas } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';
import {
  AGENT,
  appCard,
  closePagesAfterSuite,
  consoleRow,
  CUSTOMER,
  deviceCredential,
  enrolThroughApp,
  heading,
  requestCallInConsole,
  signInToConsole,
  type PagesService,
  type People,
} from '../support/web-pages.js';

const BANK = 'Northwind Bank';
const DAY_MS = 86_400_000;
/** "2026-12-08" (UTC, the support group's zone and Dana's). */
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Dana enrols her phone in German: the app's words come from its German catalogue. */
async function enrolInGerman(page: Page, origin: string, code: string): Promise<void> {
  await page.goto(`${origin}/app/`);
  await heading(page, 'Dieses Gerät einrichten');
  await page.getByLabel('Registrierungscode').fill(code);
  await page.getByLabel('PIN', { exact: true }).fill('582047');
  await page.getByLabel('PIN wiederholen').fill('582047');
  await page.getByRole('button', { name: 'Gerät einrichten' }).click();
  await page.getByRole('button', { name: 'Überspringen – PIN verwenden' }).click();
  await page.getByRole('button', { name: 'Nicht jetzt' }).click();
  await heading(page, 'Dieses Gerät ist bereit');
  await page.getByRole('link', { name: 'Zu Ihren Anrufanfragen' }).click();
  await heading(page, 'Ihre Anrufanfragen');
}

describe('a customer’s and an agent’s day: open app with notifications denied, a failed call tried again, a German customer scheduling', function () {
  this.timeout(180_000);
  // Two public holidays right ahead: tomorrow and the day after.
  const today = Date.now();
  const holidays = [utcDay(today + DAY_MS), utcDay(today + 2 * DAY_MS)];
  let svc: PagesService;
  let fs: FreeswitchServer;
  let people: People;
  let wsUrl: string;
  let deskPhonePort: number;
  let servers: SipPages['servers'] = [];
  let phone: BrowserSession;
  let german: BrowserSession;
  let desk: BrowserSession;

  before(async function () {
    skipWhenMissing(this, sipPagesSkipReason('Day walk test'));
    let drachtio;
    ({ fs, drachtio, svc, people, deskPhonePort, servers } = await startSipPages({
      KNOCK_REQUESTS__REMIND_CHOICES_MINUTES: '[30,60,1440]',
      // Only the open app can reach Chris: no push (denied) and no SMS.
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
      KNOCK_SCHEDULING__CLOSED_DATES: JSON.stringify(holidays),
      KNOCK_SCHEDULING__SLOT_STARTS_ONLY: 'true',
      KNOCK_BRANDING__NAME: BANK,
      KNOCK_BRANDING__PRIMARY_COLOR: '#1d5c2e',
      KNOCK_BRANDING__PRIMARY_DARK_COLOR: '#134020',
    }));
    wsUrl = drachtio.wsUrl!;
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone, webrtcOnLoopback: true });
    // The microphone only: every other permission, notifications included, is denied.
    await phone.context.grantPermissions(['microphone'], { origin: svc.origin });
    await addVirtualAuthenticator(phone.cdp);
    german = await openBrowser({ viewport: PHONE, timezoneId: 'UTC', locale: 'de-DE' });
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
  });

  closePagesAfterSuite(() => ({ phone, desk, svc, others: [german, ...servers] }));

  it('knock → open app → remind me later → reminder → accept → call fails → try again → connected', async () => {
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: '482916', passkey: true });
    await phone.page.goto(`${svc.origin}/app/#/`);
    assert.equal(await phone.page.evaluate('Notification.permission'), 'denied');
    await phone.page.locator('#live-status', { hasText: 'Live' }).waitFor();
    assert.equal(await phone.page.locator('.topbar .brand').textContent(), BANK);
    const [device] = await svc.t.service.deps.store.devices.listForCustomer(people.customerId);
    assert.equal(device!.pushSubscription, null, 'no push subscription');

    // The knock reaches the open app, and the agent is told so.
    await signInToConsole(desk.page, svc.origin);
    assert.equal(await desk.page.title(), `${BANK} console`);
    await waitFor('anna to be available (desk phone registered)', async () => (await svc.t.service.deps.store.agents.get(people.agentId))?.availability === 'available');
    const confirmation = await requestCallInConsole(desk.page, 'CASE-5001', 'Card payment check');
    assert.match(confirmation, /reached in their open app/);
    const notice = phone.page.locator('.in-app-notice[data-kind="knock"]');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', new RegExp(`Anna Agent from ${BANK}`));
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
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /Remind me later — reminder at \d\d:\d\d/ }).waitFor();

    // The reminder arrives in the open app, with a fresh answer time.
    await phone.page.locator('.in-app-notice[data-kind="reminder"]').waitFor({ timeout: 20_000 });
    await appCard(phone.page, 'CASE-5001').locator('.deadline', { hasText: /Please answer by \d\d:\d\d/ }).waitFor();
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /Notified — answer by \d\d:\d\d/ }).waitFor();
    const channels = (await svc.t.service.deps.store.notifications.listFor(requestId)).map((n) => `${n.kind}:${n.channel}:${n.status}`);
    assert.deepEqual(channels, ['knock:app:sent', 'reminder:app:sent']);

    // The desk phone will answer the call that connects, and echo its audio.
    const deskPhone = await startSippUas({ scenario: 'desk-phone-answer', localPort: deskPhonePort, calls: 1, rtpEcho: true, timeoutMs: 120_000 });
    try {
      // The first call's connection to the call server drops at once; later ones go through.
      let connections = 0;
      await phone.page.routeWebSocket(wsUrl, (ws) => {
        connections += 1;
        if (connections === 1) void ws.close({ code: 1011, reason: 'dropped by the test' });
        else ws.connectToServer();
      });

      await appCard(phone.page, 'CASE-5001').getByRole('link', { name: 'Accept call' }).click();
      await heading(phone.page, 'Call failed');
      assert.match((await phone.page.getByRole('alert').filter({ hasText: 'Call failed' }).textContent()) ?? '', /^Call failed: the (call server could not be reached|connection to the call server was lost)\.$/);
      await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /Verified \(biometric at \d\d:\d\d\)/ }).waitFor();

      // Try again: a fresh fingerprint and a new token, and the call reaches the desk phone.
      await phone.page.getByRole('link', { name: 'Try again' }).click();
      await heading(phone.page, `In call with ${AGENT.name}`);
      await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: /In call — verified \(biometric at \d\d:\d\d\)/ }).waitFor();
      const accepts = (await svc.t.service.deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'request.accept' && e.decision === 'allow');
      assert.equal(accepts.length, 2, 'accepted twice, each with its own authentication');

      await phone.page.getByRole('button', { name: 'Hang up' }).click();
      await heading(phone.page, 'Call ended');
      const invite = received(await deskPhone.done, /^INVITE /);
      assert.match(invite, /^X-Knock-Reference: CASE-5001/im);
      await waitFor('FreeSWITCH to release both channels', async () => (await fsChannels(fs)).length === 0);
      await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: 'Ended — call completed' }).waitFor();
    } finally {
      await deskPhone.stop();
    }
  });

  it('another customer, in German, schedules on a working day that is not a holiday; the calendar entry says she calls', async () => {
    const deps = svc.t.service.deps;
    const dana = await createCustomer(deps, { name: 'Dana Kundin', phone: null, timeZone: 'UTC', externalRef: 'CRM-1002' });
    const { code } = await issueEnrollmentCode(deps, dana.id, 'test');
    await enrolInGerman(german.page, svc.origin, code);
    assert.equal(await german.page.evaluate('document.documentElement.lang'), 'de');
    // The first of the browser's languages with a catalogue, else English.
    const chosen = await german.page.evaluate(async () => {
      const { chooseLanguage } = await import('/app/i18n.js' as string);
      return [chooseLanguage(['fr-FR', 'de-AT', 'en']), chooseLanguage(['fr-FR', 'it'])];
    });
    assert.deepEqual(chosen, [{ language: 'de', tag: 'de-AT' }, { language: 'en', tag: 'en' }]);

    await desk.page.getByLabel('Find a customer').fill('Dana');
    await desk.page.getByRole('button', { name: 'Search' }).click();
    await desk.page.getByRole('radio', { name: /Dana Kundin/ }).check();
    await desk.page.getByLabel('Reason').fill('Adressänderung');
    await desk.page.getByLabel('Reference number').fill('CASE-5002');
    await desk.page.getByRole('button', { name: 'Request a call' }).click();
    await desk.page.locator('.message.ok', { hasText: 'CASE-5002' }).waitFor();

    const card = appCard(german.page, 'CASE-5002');
    await card.locator('h2', { hasText: 'Anna Agent möchte Sie anrufen' }).waitFor();
    await card.locator('.deadline', { hasText: /Bitte antworten Sie bis \d\d:\d\d/ }).waitFor();
    await screenshot(german.page, 'customer-notification-de');

    // Schedule: the picker offers no holiday; Dana books the first day after them.
    await card.getByRole('link', { name: 'Anruf vereinbaren' }).click();
    await heading(german.page, 'Anruf vereinbaren');
    const days = await german.page.locator('#slot-day option').evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    for (const holiday of holidays) assert.ok(!days.includes(holiday), `${holiday} (a holiday) is offered`);
    const working = utcDay(today + 3 * DAY_MS);
    assert.ok(days.includes(working), `${working} is not offered: ${days.join(', ')}`);
    await german.page.getByLabel('Tag').selectOption(working);
    await german.page.getByLabel('Uhrzeit').selectOption({ label: '14:00' });
    // Dates in German, from Intl: "Do., 10. Dezember" style.
    assert.match((await german.page.locator('#slot-day option:checked').textContent()) ?? '', /^\w+\., \d{1,2}\. \w+$/u);
    await german.page.getByLabel('Notiz für den Berater (optional)').fill('Bitte nachmittags');
    await screenshot(german.page, 'schedule-picker-de');
    await german.page.getByRole('button', { name: 'Diese Zeit buchen' }).click();
    await heading(german.page, 'Ihr Anruf ist vereinbart');

    const booked = (await deps.store.callRequests.list({ customerId: dana.id, limit: 5 })).find((r) => r.reference === 'CASE-5002')!;
    assert.equal(booked.state, 'scheduled');
    assert.equal(utcDay(booked.scheduledFor!.getTime()), working);

    // The calendar entry is in German and says that she calls (the group's mode is customer_calls).
    const credential = await deviceCredential(german.page);
    const ics = await german.page.evaluate(async ([url, token]) => (await fetch(url!, { headers: { authorization: `Bearer ${token}` } })).text(), [`/api/v1/app/requests/${booked.id}/callback.ics`, credential]);
    const unfolded = ics.replace(/\r\n[ \t]/g, '');
    assert.match(unfolded, /SUMMARY:Anna Agent anrufen \(CASE-5002\)/);
    assert.match(unfolded, new RegExp(`DESCRIPTION:Ihr Anruf bei Anna Agent von ${BANK}: Zu dieser Zeit bittet die App Sie\\\\, anzurufen\\.`));

    // The console: the booking with its date, and Chris's call with how it ended.
    const dayOfMonth = Number(working.slice(8));
    await consoleRow(desk.page, 'CASE-5002').locator('.state', { hasText: new RegExp(`^Scheduled for \\w{3} ${dayOfMonth} \\w+(,| at) 14:00Note: Bitte nachmittags$`) }).waitFor();
    await consoleRow(desk.page, 'CASE-5001').locator('.state', { hasText: 'Ended — call completed' }).waitFor();
    // A booked call is not waiting in the queue; it is listed with the scheduled callbacks.
    await desk.page.locator('#queues h3', { hasText: 'Customer support — 0 waiting' }).waitFor();
    await desk.page.locator('#callbacks', { hasText: 'CASE-5002' }).waitFor();
    await screenshot(desk.page, 'console-day');
  });
});
