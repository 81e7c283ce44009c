/**
 * A real browser for the page tests: Debian's chromium driven by playwright-core (no browser
 * downloads). The binary is CHROMIUM_BIN or `chromium` on PATH; without it the suites skip with
 * the one line `browserSkipReason()` returns.
 *
 * Each `openBrowser()` is its own chromium process with a fresh profile, so the customer's phone
 * and the agent's desk never share storage. Fake media devices stand in for the microphone; a
 * CDP virtual authenticator (WebAuthn domain) stands in for the phone's fingerprint reader.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

export function chromiumPath(): string | null {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  const found = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : null;
}

/** null when chromium can run; otherwise the one line the browser suites print and skip with. */
export function browserSkipReason(): string | null {
  const bin = chromiumPath();
  if (!bin) return "browser tests skipped: chromium not found (install Debian's chromium package or set CHROMIUM_BIN)";
  const res = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (res.error || res.status !== 0) return `browser tests skipped: chromium at ${bin} does not run`;
  return null;
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  /** Errors the page threw or logged, for failure messages. */
  errors: string[];
  close(): Promise<void>;
}

export interface OpenBrowserOptions {
  /** Phone-sized by default. */
  viewport?: { width: number; height: number };
  timezoneId?: string;
  /** Origins allowed to show notifications (the customer app's). */
  notificationsFor?: string;
  /**
   * Real WebRTC calls to a media server on this machine: chromium then offers its loopback
   * address as an ICE host candidate (it leaves loopback out by default) under its real address
   * (not an mDNS .local name, which FreeSWITCH cannot resolve).
   */
  webrtcOnLoopback?: boolean;
  /** The browser's language (navigator.languages, Accept-Language); en-GB by default. */
  locale?: string;
}

export const PHONE = { width: 390, height: 844 };
export const DESK = { width: 1280, height: 900 };

export async function openBrowser(opts: OpenBrowserOptions = {}): Promise<BrowserSession> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('chromium not found');
  const profile = mkdtempSync(join(tmpdir(), 'knock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: opts.viewport ?? PHONE,
    locale: opts.locale ?? 'en-GB',
    timezoneId: opts.timezoneId ?? 'Europe/London',
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The pages are served on http://localhost:<port>; the service listens on 127.0.0.1 only.
      '--host-resolver-rules=MAP localhost 127.0.0.1',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      ...(opts.webrtcOnLoopback ? ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'] : []),
    ],
  });
  // Granting permissions this way denies every other one for the origin, so the microphone is
  // granted alongside when the page will call: chromium offers all its addresses to a call
  // (loopback included) only to a page allowed to use the microphone.
  if (opts.notificationsFor) await context.grantPermissions(opts.webrtcOnLoopback ? ['notifications', 'microphone'] : ['notifications'], { origin: opts.notificationsFor });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  const cdp = await context.newCDPSession(page);
  return {
    context,
    page,
    cdp,
    errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A platform authenticator with user verification, as a phone's fingerprint reader: CTAP2 over
 * the "internal" transport; every ceremony verifies the user without a prompt.
 */
export async function addVirtualAuthenticator(cdp: CDPSession): Promise<string> {
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

/** Delivers a push message to the page's service worker, as the browser's push service would. */
export async function deliverPush(cdp: CDPSession, origin: string, data: string): Promise<void> {
  // Re-enabling makes the browser report the current registrations again.
  await cdp.send('ServiceWorker.disable');
  const registrationId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no service worker registration for the app')), 10_000);
    const onUpdate = (e: { registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> }) => {
      const reg = e.registrations.find((r) => !r.isDeleted && r.scopeURL.startsWith(`${origin}/app/`));
      if (reg) {
        clearTimeout(timer);
        cdp.off('ServiceWorker.workerRegistrationUpdated', onUpdate);
        resolve(reg.registrationId);
      }
    };
    cdp.on('ServiceWorker.workerRegistrationUpdated', onUpdate);
    cdp.send('ServiceWorker.enable').catch(reject);
  });
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: `${origin}/`, registrationId, data });
}

const SCREENSHOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');

/** Saves a screenshot for the README, only when UPDATE_SCREENSHOTS=1 (not on every CI run). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // No blinking caret or half-finished transitions in the pictures.
  await page.evaluate('document.activeElement && document.activeElement.blur && document.activeElement.blur()');
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true, animations: 'disabled' });
}
