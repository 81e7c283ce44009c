/**
 * A lost phone removed from the console in a real browser: the agent opens the customer, sees
 * the phone the customer enrolled in the app, removes it after confirming, and the phone's
 * credential is refused by the API from then on.
 */
import assert from 'node:assert/strict';
import { browserSkipReason, DESK, openBrowser, PHONE, type BrowserSession } from '../support/browser.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import {
  closePagesAfterSuite,
  CUSTOMER,
  deviceCredential,
  enrolThroughApp,
  setUpPeople,
  signInToConsole,
  startPagesService,
  type PagesService,
  type People,
} from '../support/web-pages.js';

describe('removing a customer\'s lost phone in the console', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let desk: BrowserSession;
  let credential: string;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    svc = await startPagesService();
    people = await setUpPeople(svc.t);
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone });
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: '482916', passkey: false });
    credential = await deviceCredential(phone.page);
  });

  closePagesAfterSuite(() => ({ phone, desk, svc }));

  it('the agent opens the customer, sees the enrolled phone, removes it; its credential then gets 401', async () => {
    assert.equal((await svc.t.call('GET', '/api/v1/devices/me', { token: credential })).status, 200, 'the phone is signed in before');
    const [device] = await svc.t.service.deps.store.devices.listForCustomer(people.customerId);

    await signInToConsole(desk.page, svc.origin);
    await desk.page.getByLabel('Find a customer').fill('Chris');
    await desk.page.getByRole('button', { name: 'Search' }).click();
    const section = desk.page.getByRole('region', { name: 'Devices of Chris Customer' });
    const item = section.locator('li.device', { hasText: 'My phone' });
    await item.waitFor();
    assert.equal(await item.getAttribute('data-device-id'), device!.id);
    assert.match((await item.textContent()) ?? '', /Enrolled \d{1,2} \w+ \d{4} · (last seen|not seen)/);

    // The first press only asks; "Keep it" leaves the phone enrolled.
    await item.getByRole('button', { name: 'Remove device My phone' }).click();
    await item.getByText('Remove “My phone”? It can no longer accept calls or sign in').waitFor();
    await item.getByRole('button', { name: 'Keep it' }).click();
    assert.equal((await svc.t.call('GET', '/api/v1/devices/me', { token: credential })).status, 200);

    await item.getByRole('button', { name: 'Remove device My phone' }).click();
    await item.getByRole('button', { name: 'Yes, remove it' }).click();
    const done = section.locator('.message.ok');
    await done.waitFor();
    assert.equal(await done.textContent(), 'Device “My phone” of Chris Customer removed; it can no longer accept calls or sign in.');
    // The list is read again: the revoked phone is gone from it.
    await section.getByText('No enrolled devices.').waitFor();

    const refused = await svc.t.call('GET', '/api/v1/devices/me', { token: credential });
    assert.equal(refused.status, 401);
    assert.equal((await svc.t.service.deps.store.devices.get(device!.id))?.revokedAt instanceof Date, true);
  });
});
