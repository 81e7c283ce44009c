/**
 * What the console tells an agent about requests that are not simply waiting: the day of a change
 * that was not today, why each request was cancelled, queues that count only what is waiting (a
 * snoozed request is listed apart), and a warning when the agent is available with no desk phone.
 */
import assert from 'node:assert/strict';
import { browserSkipReason, DESK, openBrowser, type BrowserSession } from '../support/browser.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { enrolPhone } from '../support/verified-customer.js';
import { AGENT, closePagesAfterSuite, consoleRow, setUpPeople, signInToConsole, startPagesService, type PagesService, type People } from '../support/web-pages.js';
import pg from 'pg';
import { createCustomer } from '../../src/flows/directory.js';

const DAY = 24 * 3600_000;

describe('the console says why and when', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let desk: BrowserSession;
  let token: string;

  const knock = async (customerId: string, reference: string) =>
    svc.t.call('POST', '/api/v1/call-requests', { token, body: { customerId, reason: 'Card payment check', reference } });

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    svc = await startPagesService();
    people = await setUpPeople(svc.t);
    token = (await svc.t.call('POST', '/api/v1/auth/login', { body: { username: AGENT.username, password: AGENT.password } })).body.token;
    const deps = svc.t.service.deps;

    // A knock the agent cancelled, two days ago (the database stamps changes with its own clock).
    const dana = await createCustomer(deps, { name: 'Dana Old', phone: '+447700900124', timeZone: 'UTC', externalRef: null });
    const old = await knock(dana.id, 'OLD-1');
    assert.equal(old.status, 201, old.text);
    assert.equal((await svc.t.call('POST', `/api/v1/call-requests/${old.body.id}/cancel`, { token })).status, 200);
    const db = new pg.Client({ connectionString: svc.t.db.url });
    await db.connect();
    await db.query('UPDATE call_requests SET updated_at = $2 WHERE id = $1', [old.body.id, new Date(Date.now() - 2 * DAY)]);
    await db.end();

    // Nobody can be reached: no phone number, no device.
    const nobody = await createCustomer(deps, { name: 'Nora Nowhere', phone: null, timeZone: 'UTC', externalRef: null });
    assert.equal((await knock(nobody.id, 'NOBODY-1')).status, 422);

    // Chris puts the knock off (Remind me later); Erin's is waiting.
    const phone = await enrolPhone(svc.t, token, people.customerId, '482916');
    const snoozed = await knock(people.customerId, 'SNOOZE-1');
    assert.equal(snoozed.status, 201, snoozed.text);
    const minutes = deps.config.requests.remindChoicesMinutes[0];
    const put = await svc.t.call('POST', `/api/v1/app/requests/${snoozed.body.id}/snooze`, { token: phone.credential, body: { minutes } });
    assert.equal(put.status, 200, put.text);
    const erin = await createCustomer(deps, { name: 'Erin Waiting', phone: '+447700900125', timeZone: 'UTC', externalRef: null });
    assert.equal((await knock(erin.id, 'WAIT-1')).status, 201);

    desk = await openBrowser({ viewport: DESK, timezoneId: 'UTC' });
  });

  closePagesAfterSuite(() => ({ desk, svc }));

  it('shows the date of a change that was not today and the reason of every cancellation', async () => {
    await signInToConsole(desk.page, svc.origin);
    const old = consoleRow(desk.page, 'OLD-1');
    await old.waitFor();
    assert.match((await old.locator('td[data-label="State"]').textContent()) ?? '', /Cancelled — cancelled by the agent/);
    // Two days ago reads as a day and a time, not a bare time that would look like today's.
    assert.match((await old.locator('td[data-label="Changed"]').textContent()) ?? '', /^\w{3},? \d{1,2} \w+(,| at) \d{2}:\d{2}$/);
    const unreachable = consoleRow(desk.page, 'NOBODY-1');
    assert.match((await unreachable.locator('td[data-label="State"]').textContent()) ?? '', /Cancelled — customer unreachable/);
    // Today's change: a time alone.
    assert.match((await consoleRow(desk.page, 'WAIT-1').locator('td[data-label="Changed"]').textContent()) ?? '', /^\d{2}:\d{2}$/);
  });

  it('counts only what is waiting in the queues; the snoozed request is listed apart', async () => {
    const group = desk.page.locator('#queues [data-group-id="support"]');
    await group.locator('h3', { hasText: '1 waiting, 1 to be reminded later' }).waitFor();
    assert.match((await group.getByRole('list', { name: 'Waiting in Customer support' }).textContent()) ?? '', /WAIT-1/);
    const later = (await group.getByRole('list', { name: 'To be reminded later in Customer support' }).textContent()) ?? '';
    assert.match(later, /SNOOZE-1 · Remind me later — reminder at \d{2}:\d{2}, can accept until then/);
  });

  it('warns an agent who chooses Available without a registered desk phone', async () => {
    await desk.page.locator('fieldset.availability label', { hasText: 'Away' }).click();
    await desk.page.getByRole('status').filter({ hasText: 'You are away.' }).waitFor({ state: 'attached' });
    assert.equal(await desk.page.locator('.desk-phone-warning').isVisible(), false);
    await desk.page.locator('fieldset.availability label', { hasText: 'Available' }).click();
    const warning = desk.page.getByRole('alert').filter({ hasText: 'No desk phone is registered for extension 1001' });
    await warning.waitFor();
    assert.match((await warning.textContent()) ?? '', /customer calls cannot reach you\. Register your desk phone as sip:1001@knock\.localhost, or choose Away\./);
  });
});
