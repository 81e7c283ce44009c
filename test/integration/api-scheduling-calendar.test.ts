/**
 * Scheduling with the production rules on: closed dates (holidays) are never offered nor
 * accepted, and a callback time between two slot starts is refused naming the nearest slots.
 * Real PostgreSQL; the group's business hours are around the clock so the test does not depend
 * on when it runs.
 */
import assert from 'node:assert/strict';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { enrolPhone, type EnrolledPhone } from '../support/verified-customer.js';

const DAY = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('scheduling: closed dates and the slot grid', function () {
  this.timeout(60_000);
  let t: TestService;
  let phone: EnrolledPhone;
  let requestId: string;
  // The day after tomorrow (UTC) is a holiday for the support group only.
  const holiday = isoDay(Date.now() + 2 * DAY);

  before(async () => {
    t = await startTestService({
      KNOCK_SCHEDULING__SLOT_STARTS_ONLY: 'true',
      KNOCK_SCHEDULING__GROUP_CLOSED_DATES: JSON.stringify({ support: [holiday] }),
    });
    const deps = t.service.deps;
    await saveGroup(deps, { id: 'support', name: 'Support', timeZone: 'UTC', businessHours: deps.config.scheduling.businessHours, slotCapacity: null, slotMinutes: 30, callbackMode: 'customer_calls' });
    await createAgent(deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: 'anna-password-1', groups: ['support'] });
    const customer = await createCustomer(deps, { name: 'Chris Customer', phone: '+447700900123', timeZone: 'UTC', externalRef: null });
    const token = (await t.call('POST', '/api/v1/auth/login', { body: { username: 'anna', password: 'anna-password-1' } })).body.token;
    phone = await enrolPhone(t, token, customer.id, '482916');
    const knock = await t.call('POST', '/api/v1/call-requests', { token, body: { customerId: customer.id, reason: 'Card payment check', reference: 'CAL-1' } });
    assert.equal(knock.status, 201, knock.text);
    requestId = knock.body.id;
  });

  after(async () => {
    await t?.stop();
  });

  it('offers slot starts only, and none on the closed date', async () => {
    const res = await t.call('GET', `/api/v1/app/requests/${requestId}/slots?limit=200`, { token: phone.credential });
    assert.equal(res.status, 200, res.text);
    const starts = (res.body.slots as Array<{ start: string }>).map((s) => s.start);
    assert.equal(starts.length, 200);
    assert.ok(starts.every((s) => /T\d\d:(00|30):00\.000Z$/.test(s)), 'every slot starts on the grid');
    assert.ok(!starts.some((s) => s.startsWith(holiday)), `a slot is offered on ${holiday}`);
    // The day before and the day after are offered: only the holiday is missing.
    assert.ok(starts.some((s) => s.startsWith(isoDay(Date.parse(`${holiday}T00:00:00Z`) - DAY))));
    assert.ok(starts.some((s) => s.startsWith(isoDay(Date.parse(`${holiday}T00:00:00Z`) + DAY))));
  });

  it('lists the whole horizon page by page, each slot once, the last page saying there is no more', async () => {
    const starts: string[] = [];
    let page: { slots: Array<{ start: string }>; next: string | null; horizon: string } | null = null;
    for (let n = 0; n < 20 && (page === null || page.next); n++) {
      const after: string = page?.next ? `&after=${encodeURIComponent(page.next)}` : '';
      const res = await t.call('GET', `/api/v1/app/requests/${requestId}/slots?limit=200${after}`, { token: phone.credential });
      assert.equal(res.status, 200, res.text);
      page = res.body;
      starts.push(...page!.slots.map((s) => s.start));
    }
    assert.equal(page!.next, null, 'the pages end');
    assert.ok(starts.length > 200, `more than one page: ${starts.length}`);
    assert.equal(new Set(starts).size, starts.length, 'no slot twice');
    assert.deepEqual(starts, [...starts].sort(), 'in time order');
    // The last slot offered is within the horizon's last day.
    const last = Date.parse(starts.at(-1)!);
    assert.ok(last <= Date.parse(page!.horizon) && last > Date.parse(page!.horizon) - 4 * DAY, `last slot ${starts.at(-1)} near the horizon ${page!.horizon}`);
  });

  it('refuses the closed date, saying which day and when it opens again', async () => {
    const res = await t.call('POST', `/api/v1/app/requests/${requestId}/schedule`, { token: phone.credential, body: { at: `${holiday}T10:00:00.000Z` } });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.code, 'outside_business_hours');
    assert.match(res.body.detail, /^We are closed on \w+day \d{1,2} \w+ \d{4}; pick another day\.$/);
    assert.equal(res.body.closedDate, holiday);
    assert.equal(res.body.nextOpen, new Date(Date.parse(`${holiday}T00:00:00Z`) + DAY).toISOString());
  });

  it('refuses 09:10 with 30-minute slots, naming 09:00 and 09:30; takes 09:30', async () => {
    const day = isoDay(Date.now() + 3 * DAY);
    const res = await t.call('POST', `/api/v1/app/requests/${requestId}/schedule`, { token: phone.credential, body: { at: `${day}T09:10:00.000Z` } });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.code, 'not_a_slot');
    assert.equal(res.body.detail, 'Callbacks start every 30 minutes: 09:10 is not a slot start; the nearest are 09:00 and 09:30 (UTC).');
    assert.deepEqual(res.body.nearest, [`${day}T09:00:00.000Z`, `${day}T09:30:00.000Z`]);
    const ok = await t.call('POST', `/api/v1/app/requests/${requestId}/schedule`, { token: phone.credential, body: { at: `${day}T09:30:00.000Z` } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.state, 'scheduled');
  });
});
