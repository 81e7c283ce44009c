/**
 * A scheduled callback in "agent calls" mode ringing the customer's app in a real chromium: the
 * page registers over WebSocket (sip.js, Bearer registration token + device proof) because a
 * callback is due; the server rings the adviser's desk phone (sipp), then the app; the page shows
 * who is calling and the case; Answer runs the fingerprint (virtual authenticator) and answers
 * with a verified WebRTC call that replaces the ringing one; audio flows both ways through
 * FreeSWITCH and the call is recorded as verified.
 */
import assert from 'node:assert/strict';
import { saveGroup } from '../../src/flows/directory.js';
import { rtpCounters } from '../../src/media/media-stats.js';
import { addVirtualAuthenticator, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import { carriesAudio, fsChannels, received } from '../support/call-center.js';
import type { DrachtioServer } from '../support/drachtio-server.js';
import type { FreeswitchServer } from '../support/freeswitch-server.js';
import { sipPagesSkipReason, startSipPages, type SipPages } from '../support/sip-pages.js';
import { startSippUas } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';
import { AGENT, closePagesAfterSuite, CUSTOMER, deviceCredential, enrolThroughApp, heading, type PagesService, type People } from '../support/web-pages.js';

describe('a scheduled callback ringing the customer app (chromium + drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(180_000);
  let fs: FreeswitchServer;
  let drachtio: DrachtioServer;
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let deskPhonePort: number;
  let servers: SipPages['servers'] = [];

  before(async function () {
    skipWhenMissing(this, sipPagesSkipReason('Incoming callback test'));
    ({ fs, drachtio, svc, people, deskPhonePort, servers } = await startSipPages({ KNOCK_SIP__APP_RING_SECONDS: '60' }));
    const deps = svc.t.service.deps;
    const group = (await deps.store.groups.get('support'))!;
    await saveGroup(deps, { ...group, callbackMode: 'agent_calls' });
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone, notificationsFor: svc.origin, webrtcOnLoopback: true });
    await addVirtualAuthenticator(phone.cdp);
  });

  closePagesAfterSuite(() => ({ phone, svc, others: servers }));

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      const ours = (svc?.t.logs ?? []).filter((l) => /outbound-callback|app-registrar|customer-call|"level":(40|50)/.test(l));
      console.log('--- service ---\n', ours.slice(-40).join(''), '\n--- drachtio ---\n', (drachtio?.logs() ?? '').split('\n').filter((l) => /INVITE|SIP\/2\.0 [3-6]|tport|Error|invalid/.test(l)).slice(-60).join('\n'));
    }
  });

  it('registers while the callback is due, rings with the adviser and case, answers after the fingerprint, audio both ways', async () => {
    const deps = svc.t.service.deps;
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: '730514', passkey: true });
    await waitFor('anna to be available (desk phone registered)', async () => (await deps.store.agents.get(people.agentId))?.availability === 'available');
    const credential = await deviceCredential(phone.page);

    // Anna knocks; the customer schedules for a few seconds from now (as the schedule screen would).
    const login = await svc.t.call('POST', '/api/v1/auth/login', { body: { username: AGENT.username, password: AGENT.password } });
    const knock = await svc.t.call('POST', '/api/v1/call-requests', { token: login.body.token, body: { customerId: people.customerId, reason: 'Card payment check', reference: 'CASE-6001' } });
    assert.equal(knock.status, 201, knock.text);
    const requestId = knock.body.id as string;
    const deskPhone = await startSippUas({ scenario: 'desk-phone-answer-callback', localPort: deskPhonePort, calls: 1, rtpEcho: true, timeoutMs: 150_000 });
    try {
      const scheduled = await svc.t.call('POST', `/api/v1/app/requests/${requestId}/schedule`, { token: credential, body: { at: new Date(Date.now() + 8_000).toISOString() } });
      assert.equal(scheduled.status, 200, scheduled.text);

      // The page registered for calls over WebSocket (its binding names the device, over ws).
      const [binding] = await waitFor('the app to register for calls', async () => {
        const b = await deps.store.devices.sipRegistrations(people.customerId, new Date());
        return b.length > 0 ? b : null;
      }, 30_000);
      assert.match(binding!.source ?? '', /^ws\//);

      await heading(phone.page, 'Incoming call');
      await phone.page.getByText(`${AGENT.name} is calling you about case CASE-6001.`).waitFor();
      await screenshot(phone.page, 'incoming-callback');
      await phone.page.getByRole('button', { name: 'Answer' }).click();

      await heading(phone.page, `In call with ${AGENT.name}`);
      const counters = await waitFor('RTP both ways on both FreeSWITCH channels', async () => {
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 50)) ? c : null;
      }, 30_000);
      console.log(`      answered callback, FreeSWITCH channels in/out: ${counters.map((c) => `${c!.inPackets}/${c!.outPackets}`).join(', ')}`);
      const connected = await deps.store.callRequests.get(requestId);
      assert.equal(connected?.state, 'connected');
      assert.equal(connected?.authMethod, 'biometric');

      await phone.page.getByRole('button', { name: 'Hang up' }).click();
      await heading(phone.page, 'Call ended');
      const desk = await deskPhone.done;
      assert.match(received(desk, /^INFO /), /^X-Knock-Verified: biometric/im);
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.verification, 'token:biometric');
      await waitFor('the record to be closed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
    } finally {
      await deskPhone.stop();
    }
  });
});
