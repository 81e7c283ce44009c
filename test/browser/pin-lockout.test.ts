/**
 * The PIN path of Accept in a real browser: a customer without a passkey accepts with the PIN
 * (the page signs the challenge with its device key); a call server that cannot be reached is
 * reported plainly; too many wrong PINs lock the device and the app says until when.
 */
import assert from 'node:assert/strict';
import { browserSkipReason, DESK, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import { freePort } from '../support/drachtio-server.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import {
  appCard,
  consoleRow,
  CUSTOMER,
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

describe('accepting with the PIN in the browser, and the lock-out', function () {
  this.timeout(120_000);
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let desk: BrowserSession;

  before(async function () {
    skipWhenMissing(this, browserSkipReason());
    // Nothing listens at the SIP WebSocket address: the call cannot reach the server.
    const closedPort = await freePort();
    svc = await startPagesService({ KNOCK_AUTH__PIN__MAX_ATTEMPTS: '3', KNOCK_AUTH__PIN__LOCKOUT_MINUTES: '15', KNOCK_SIP__WS_URL: `ws://127.0.0.1:${closedPort}` });
    people = await setUpPeople(svc.t);
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone });
    desk = await openBrowser({ viewport: DESK });
    const summary = await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: PIN, passkey: false });
    assert.match(summary, /Fingerprint or face: not set up/);
    await signInToConsole(desk.page, svc.origin);
  });

  closePagesAfterSuite(() => ({ phone, desk, svc }));

  async function acceptToPin(reference: string) {
    await requestCallInConsole(desk.page, reference, 'Loan application');
    const card = appCard(phone.page, reference);
    await card.getByRole('link', { name: 'Accept call' }).click();
    await heading(phone.page, 'Confirm it is you');
    await phone.page.getByLabel('Your PIN', { exact: true }).waitFor();
  }

  it('the right PIN verifies the customer; a call server that cannot be reached is reported as the reason', async () => {
    await acceptToPin('CASE-3001');
    await phone.page.getByLabel('Your PIN', { exact: true }).fill(PIN);
    await phone.page.getByRole('button', { name: 'Confirm with PIN' }).click();
    await phone.page.locator('.verified-how', { hasText: /You confirmed it is you with your PIN at \d\d:\d\d/ }).waitFor();
    const alert = phone.page.getByRole('alert').filter({ hasText: 'Call failed' });
    await alert.waitFor();
    assert.equal(await alert.textContent(), 'Call failed: the call server could not be reached.');
    await consoleRow(desk.page, 'CASE-3001').locator('.state', { hasText: /Verified \(PIN at \d\d:\d\d\)/ }).waitFor();
    await consoleRow(desk.page, 'CASE-3001').getByRole('button', { name: 'Cancel request CASE-3001' }).click();
    await consoleRow(desk.page, 'CASE-3001').locator('.state', { hasText: 'Cancelled' }).waitFor();
  });

  it('wrong PINs count down, then lock the device with a message saying until when', async () => {
    await phone.page.getByRole('link', { name: 'Back to your call requests' }).click();
    await acceptToPin('CASE-3002');
    const pin = phone.page.getByLabel('Your PIN', { exact: true });
    const confirm = phone.page.getByRole('button', { name: 'Confirm with PIN' });
    const error = phone.page.locator('section').getByRole('alert');

    await pin.fill('135790');
    await confirm.click();
    await error.filter({ hasText: 'Wrong PIN' }).waitFor();
    assert.equal(await error.textContent(), 'Wrong PIN. 2 attempts left before the device is locked for 15 minutes.');

    await pin.fill('246802');
    await confirm.click();
    await error.filter({ hasText: '1 attempt left' }).waitFor();

    await pin.fill('975310');
    await confirm.click();
    await error.filter({ hasText: 'locked until' }).waitFor();

    const [device] = await svc.t.service.deps.store.devices.listForCustomer(people.customerId);
    const secrets = await svc.t.service.deps.store.devices.secrets(device!.id);
    assert.ok(secrets?.pinLockedUntil, 'the server locked the device');
    const until = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: CUSTOMER.timeZone }).format(secrets.pinLockedUntil);
    assert.match((await error.textContent()) ?? '', new RegExp(`^Too many wrong PINs\\. This device is locked until ${until} \\(about \\d+ minutes?\\)\\. You can still schedule a call\\.$`));
    assert.equal(await pin.isDisabled(), true);
    assert.equal(await confirm.isVisible(), false, 'no PIN button while locked');
    await phone.page.getByRole('link', { name: 'Schedule a call' }).first().waitFor();
    await screenshot(phone.page, 'pin-locked');
  });
});
