/**
 * The service and the people the page tests need, and how a user goes through the pages: the
 * service on http://localhost:<port> (WebAuthn wants the page's origin and rpId "localhost"), a
 * group, an agent, a customer with an enrollment code; enrolling the phone through the app's
 * screens; signing in to the console.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import { issueEnrollmentCode } from '../../src/flows/enrollment.js';
import type { BrowserSession } from './browser.js';
import { freePort } from './drachtio-server.js';
import { startTestService, type TestService } from './test-service.js';

export interface PagesService {
  t: TestService;
  /** http://localhost:<port>, the origin the pages are opened at. */
  origin: string;
}

export async function startPagesService(env: Record<string, string> = {}): Promise<PagesService> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const t = await startTestService({
    KNOCK_SERVER__PORT: String(port),
    KNOCK_SERVER__PUBLIC_URL: origin,
    KNOCK_AUTH__WEBAUTHN__RP_ID: 'localhost',
    KNOCK_AUTH__WEBAUTHN__ORIGINS: JSON.stringify([origin]),
    // The pages' tests run without drachtio-server and FreeSWITCH.
    KNOCK_SIP__ENABLED: 'false',
    ...env,
  });
  return { t, origin };
}

export const AGENT = { username: 'anna', name: 'Anna Agent', extension: '1001', password: 'anna-console-pw-1' };
export const CUSTOMER = { name: 'Chris Customer', phone: '+447700900123', timeZone: 'America/New_York' };

export interface People {
  customerId: string;
  agentId: string;
  enrollmentCode: string;
}

export async function setUpPeople(t: TestService): Promise<People> {
  const deps = t.service.deps;
  await saveGroup(deps, {
    id: 'support',
    name: 'Customer support',
    timeZone: 'UTC',
    businessHours: deps.config.scheduling.businessHours,
    slotCapacity: null,
    slotMinutes: 30,
    callbackMode: 'customer_calls',
  });
  const agent = await createAgent(deps, { ...AGENT, groups: ['support'] });
  const customer = await createCustomer(deps, { name: CUSTOMER.name, phone: CUSTOMER.phone, timeZone: CUSTOMER.timeZone, externalRef: 'CRM-1001' });
  const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
  return { customerId: customer.id, agentId: agent.id, enrollmentCode: code };
}

/** Waits for a heading with this exact text (regexp: matching). */
export async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { name, exact: typeof name === 'string' }).first().waitFor({ state: 'visible' });
}

/** Enrols the phone through the app's four steps; returns what the app shows at the end. */
export async function enrolThroughApp(page: Page, origin: string, opts: { code: string; pin: string; passkey: boolean }): Promise<string> {
  await page.goto(`${origin}/app/`);
  await heading(page, 'Set up this device');
  await page.getByLabel('Enrollment code').fill(opts.code);
  await page.getByLabel('PIN', { exact: true }).fill(opts.pin);
  await page.getByLabel('PIN again').fill(opts.pin);
  await page.getByRole('button', { name: 'Enrol this device' }).click();
  await heading(page, 'Accept calls with your fingerprint or face');
  if (opts.passkey) await page.getByRole('button', { name: 'Set up fingerprint or face' }).click();
  else await page.getByRole('button', { name: 'Skip — use my PIN' }).click();
  await heading(page, 'Get call requests when the app is closed');
  await page.getByRole('button', { name: 'Not now' }).click();
  await heading(page, 'This device is ready');
  const summary = (await page.locator('main ul').textContent()) ?? '';
  await page.getByRole('link', { name: 'Go to your call requests' }).click();
  await heading(page, 'Your call requests');
  return summary;
}

/** The credential the app stored for this device (read the way the app reads it). */
export async function deviceCredential(page: Page): Promise<string> {
  const credential = await page.evaluate(async () => {
    const storage = await import('/app/storage.js' as string);
    return (await storage.loadDevice())?.credential as string | undefined;
  });
  assert.ok(credential, 'the app stored no device credential');
  return credential;
}

export async function signInToConsole(page: Page, origin: string): Promise<void> {
  await page.goto(`${origin}/console/`);
  await heading(page, 'Sign in');
  await page.getByLabel('Username').fill(AGENT.username);
  await page.getByLabel('Password').fill(AGENT.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, 'Request a call');
  await page.locator('.live-dot', { hasText: 'Live' }).waitFor();
}

/** The agent finds the customer and knocks; returns the console's confirmation. */
export async function requestCallInConsole(page: Page, reference: string, reason: string): Promise<string> {
  await page.getByLabel('Find a customer').fill('Chris');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('radio', { name: /Chris Customer/ }).check();
  await page.getByLabel('Reason').fill(reason);
  await page.getByLabel('Reference number').fill(reference);
  await page.getByRole('button', { name: 'Request a call' }).click();
  const confirmation = page.locator('.message.ok', { hasText: reference });
  await confirmation.waitFor();
  return (await confirmation.textContent()) ?? '';
}

/** The console's row for a request, found by its reference. */
export function consoleRow(page: Page, reference: string) {
  return page.locator('#requests tbody tr', { hasText: reference });
}

/** The app's card for a request, found by its reference. */
export function appCard(page: Page, reference: string) {
  return page.locator('article.request-card', { hasText: reference });
}

/**
 * The hooks every page suite needs: after the suite, close both browsers, the service and any
 * other stand-ins; when a test fails, print what the pages logged as errors.
 */
export function closePagesAfterSuite(parts: () => { phone?: BrowserSession; desk?: BrowserSession; svc?: PagesService; others?: Array<{ close(): Promise<unknown> } | undefined> }): void {
  after(async function () {
    const { phone, desk, svc, others = [] } = parts();
    await phone?.close();
    await desk?.close();
    await svc?.t.stop();
    for (const o of others) await o?.close();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      const { phone, desk } = parts();
      console.log('phone page errors:', phone?.errors, '\ndesk page errors:', desk?.errors);
    }
  });
}
