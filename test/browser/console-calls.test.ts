/**
 * The console's call features in a real browser against the whole service with real SIP: a
 * verified customer's call (sipp as the app and as the desk phones, through drachtio-server and
 * FreeSWITCH) brings up the incoming-call screen with who, how and when they were verified and
 * the reference; its transfer control moves the call to another agent and shows the progress;
 * and "Call now" starts a scheduled callback.
 */
import assert from 'node:assert/strict';
import { browserSkipReason, DESK, openBrowser, screenshot, type BrowserSession } from '../support/browser.js';
import { AGENTS, received, useCallCenter } from '../support/call-center.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';
import { heading } from '../support/web-pages.js';

describe('console: incoming-call screen, transfer and call now (browser + SIP servers)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben], alsoNeeds: browserSkipReason });
  let desk: BrowserSession;

  before(async function () {
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
    const page = desk.page;
    await page.goto(`${center().env.svc.url}/console/`);
    await heading(page, 'Sign in');
    await page.getByLabel('Username').fill('anna');
    await page.getByLabel('Password').fill(DESK_PHONE_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'Request a call');
    await page.locator('.live-dot', { hasText: 'Live' }).waitFor();
  });

  after(async function () {
    await desk?.close();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log('desk page errors:', desk?.errors);
  });

  it('shows the verified customer when the call rings and connects, and transfers it from the screen', async () => {
    const { env, cc, phonePort, pcap, deps } = center();
    const page = desk.page;
    // Every state the call screen goes through, as the agent sees it.
    // (A script string: the tests are compiled without the DOM library.)
    await page.evaluate(`(() => {
      const seen = (window.callScreenStates = []);
      new MutationObserver(() => {
        const state = document.getElementById('call-screen')?.dataset.state;
        if (state && seen.at(-1) !== state) seen.push(state);
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    })()`);

    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-8001');
    const request = await deps.store.callRequests.get(requestId);
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '12000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });

      const screen = page.locator('#call-screen[data-state="connected"]');
      await screen.getByRole('heading', { name: /On a call/ }).waitFor();
      const text = (await screen.textContent()) ?? '';
      assert.match(text, /Chris Customer/);
      const authTime = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' }).format(request!.authenticatedAt!);
      assert.match(text, new RegExp(`Verified by fingerprint or face \\(biometric\\) at ${authTime}`));
      assert.match(text, /CASE-8001/);
      assert.match(text, /Suspicious card payment/);
      const states = (await page.evaluate('window.callScreenStates')) as string[];
      assert.deepEqual(states.slice(0, 2), ['ringing', 'connected']);
      await screenshot(page, 'console-incoming-call');

      // A reload mid-call brings the screen back (live events are not replayed).
      await page.reload();
      await screen.getByText('Chris Customer').waitFor();
      assert.match((await screen.textContent()) ?? '', /CASE-8001/);

      // Transfer to Ben with the screen's control.
      const option = `agent:${cc.agents.ben!.id}`;
      await screen.locator(`#transfer-target option[value="${option}"]`).waitFor({ state: 'attached' });
      await screen.getByLabel('Transfer to').selectOption(option);
      await screen.getByRole('button', { name: 'Transfer' }).click();
      await page.locator('#call-screen', { hasText: 'Transfer complete — transferred to Ben Agent.' }).waitFor();
      await page.locator('#call-screen[data-state="ended"]', { hasText: 'The call was transferred.' }).waitFor();

      // What happened on the wire: Anna's phone got BYE, Ben's was told the customer is verified.
      const first = await anna.done;
      assert.ok(received(first, /^BYE /));
      await customer;
      const second = await ben.done;
      assert.match(received(second, /^INVITE /), /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      await page.getByRole('button', { name: 'Close' }).click();
      await page.locator('#call-screen').waitFor({ state: 'hidden' });
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });

  it('"Call now" on a scheduled callback prompts the customer at once', async () => {
    const { env, cc, deps } = center();
    const page = desk.page;
    const knock = await env.svc.call('POST', '/api/v1/call-requests', { token: cc.consoleTokens.anna!, body: { customerId: cc.customerId, reason: 'Card payment check', reference: 'CASE-8002' } });
    assert.equal(knock.status, 201, knock.text);
    const at = new Date(Date.now() + 2 * 3_600_000);
    const scheduled = await env.svc.call('POST', `/api/v1/app/requests/${knock.body.id}/schedule`, { token: cc.deviceCredential, body: { at: at.toISOString(), note: 'after lunch' } });
    assert.equal(scheduled.status, 200, scheduled.text);

    const row = page.locator(`#callbacks li[data-request-id="${knock.body.id}"]`);
    await row.getByText('Note: after lunch').waitFor();
    await row.getByRole('button', { name: 'Call now' }).click();
    await page.locator('#callbacks .message.ok', { hasText: 'CASE-8002: The customer has been asked to call now.' }).waitFor();

    assert.equal((await deps.store.callRequests.get(knock.body.id))!.state, 'prompted');
    const notifications = await waitFor('the prompt to the customer', async () => {
      const list = await deps.store.notifications.listFor(knock.body.id);
      return list.some((n) => n.kind === 'callback_prompt') ? list : null;
    });
    assert.ok(notifications.length >= 2, 'the knock, then the prompt');
    assert.deepEqual(await env.svc.service.scheduler.pending(knock.body.id), []);
  });
});
