/**
 * A German customer's app in a real browser says everything in German, errors included: the
 * blocked-notifications message is the app's own, an answer refused because the adviser moved on
 * is the catalogue's sentence for the problem's code (not the server's English detail), and a
 * count reads "1 Minute", not "1 Minuten". An in-app notice about a request goes once that
 * request is cancelled because the adviser knocked again.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { browserSkipReason, openBrowser, PHONE, type BrowserSession } from '../support/browser.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';
import { AGENT, appCard, closePagesAfterSuite, heading, setUpPeople, startPagesService, type PagesService, type People } from '../support/web-pages.js';

const de = JSON.parse(readFileSync(new URL('../../src/web/app/messages/de.json', import.meta.url), 'utf8')) as Record<string, string>;

describe('the customer app in German: errors, counts and stale notices', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let agentToken: string;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    // A short answer time, so the first knock is missed during the test; a one-minute reminder.
    svc = await startPagesService({ KNOCK_REQUESTS__ANSWER_TIME_LIMIT_SECONDS: '6', KNOCK_REQUESTS__REMIND_CHOICES_MINUTES: '[1,60]' });
    people = await setUpPeople(svc.t);
    // Notifications are not granted: asking for them is refused.
    phone = await openBrowser({ viewport: PHONE, timezoneId: 'UTC', locale: 'de-DE' });
    const login = await svc.t.call('POST', '/api/v1/auth/login', { body: { username: AGENT.username, password: AGENT.password } });
    assert.equal(login.status, 200, login.text);
    agentToken = login.body.token;
  });

  closePagesAfterSuite(() => ({ phone, svc }));

  async function knock(reference: string): Promise<string> {
    const res = await svc.t.call('POST', '/api/v1/call-requests', {
      token: agentToken,
      headers: { 'idempotency-key': `knock-${reference}` },
      body: { customerId: people.customerId, reason: 'Adressänderung', reference },
    });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  }

  const alertText = async (page: Page) => (await page.getByRole('alert').first().textContent())?.trim();

  it('enrols with notifications blocked, shows counts in the singular, the moved-on answer in German, and drops the stale notice', async () => {
    const page = phone.page;
    await page.goto(`${svc.origin}/app/`);
    await heading(page, 'Dieses Gerät einrichten');
    await page.getByLabel('Registrierungscode').fill(people.enrollmentCode);
    await page.getByLabel('PIN', { exact: true }).fill('582047');
    await page.getByLabel('PIN wiederholen').fill('582047');
    await page.getByRole('button', { name: 'Gerät einrichten' }).click();
    await page.getByRole('button', { name: 'Überspringen – PIN verwenden' }).click();

    // Blocked notifications: the reason is the app's German sentence.
    await page.getByRole('button', { name: 'Mitteilungen einschalten' }).click();
    await page.getByRole('alert').filter({ hasText: 'Mitteilungen konnten nicht' }).waitFor();
    assert.equal(await alertText(page), 'Mitteilungen konnten nicht eingeschaltet werden: Mitteilungen sind für diese App in den Browser-Einstellungen blockiert.');
    await page.getByRole('button', { name: 'Ohne Mitteilungen fortfahren' }).click();
    await page.getByRole('link', { name: 'Zu Ihren Anrufanfragen' }).click();
    await heading(page, 'Ihre Anrufanfragen');

    // The first knock: its notice and its card; the reminder choices count in the singular.
    const first = await knock('CASE-7001');
    const notice = (id: string) => page.locator(`.in-app-notice[data-request-id="${id}"]`);
    await notice(first).waitFor();
    const card = appCard(page, 'CASE-7001');
    await card.getByRole('button', { name: 'Später erinnern' }).click();
    assert.deepEqual(await card.getByRole('group').getByRole('button').allTextContents(), ['In 1 Minute', 'In 1 Stunde']);

    // The answer time runs out: the notice says the adviser moved on.
    await notice(first).and(page.locator('[data-kind="expired"]')).waitFor({ timeout: 30_000 });

    // Answering it anyway (a stale screen): the refusal in German, chosen by its code.
    await page.goto(`${svc.origin}/app/#/requests/${first}/verify`);
    const refusal = page.getByRole('alert').filter({ hasText: de['problem.request_expired']! });
    await refusal.or(page.getByRole('alert').filter({ hasText: de['problem.illegal_transition']! })).first().waitFor();
    assert.doesNotMatch((await page.getByRole('alert').allTextContents()).join(' '), /agent|adviser|no longer/i);

    // The adviser knocks again: the missed request is cancelled, and its notice goes with it.
    const second = await knock('CASE-7002');
    await notice(second).waitFor();
    await waitFor('the first request to be cancelled', async () => (await svc.t.service.deps.store.callRequests.get(first))?.state === 'cancelled');
    await notice(first).waitFor({ state: 'detached' });
    assert.equal(await page.locator('.in-app-notice').count(), 1);
  });
});
