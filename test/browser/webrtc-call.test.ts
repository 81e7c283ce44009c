/**
 * The whole story with real audio: the agent knocks in the console; the customer's phone (a real
 * chromium with a fake microphone) gets the request, accepts with the fingerprint (a CDP virtual
 * authenticator), and its WebRTC call (sip.js over WebSocket, Opus, ICE, DTLS-SRTP) goes through a
 * real drachtio-server and a real FreeSWITCH to the agent's desk phone (sipp, G.711, echoing the
 * audio back). Audio is counted at both ends: the browser's RTCPeerConnection statistics and
 * FreeSWITCH's RTP counters. Mute silences what the adviser hears; hang-up on the page ends the
 * call everywhere.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { rtpCounters, type RtpCounters } from '../../src/media/media-stats.js';
import { addVirtualAuthenticator, DESK, openBrowser, PHONE, screenshot, type BrowserSession } from '../support/browser.js';
import { carriesAudio, fsChannels, received } from '../support/call-center.js';
import type { DrachtioServer } from '../support/drachtio-server.js';
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
  enrolThroughApp,
  heading,
  requestCallInConsole,
  signInToConsole,
  type PagesService,
  type People,
} from '../support/web-pages.js';

const PIN = '730514';
const REFERENCE = 'CASE-3001';

interface AudioStats {
  /** inbound-rtp: what the phone received (the adviser's side, here sipp's echo). */
  packetsReceived: number;
  totalAudioEnergy: number;
  totalSamplesDuration: number;
  /** outbound-rtp: what the phone sent. */
  packetsSent: number;
  /** The selected ICE pair's addresses and the DTLS state. */
  localAddress: string;
  remoteAddress: string;
  dtlsState: string;
  codec: string;
}

/**
 * The call's RTCPeerConnection statistics. The page's peer connections are recorded by an init
 * script (below) as the page creates them; the app itself exposes nothing for tests.
 */
async function audioStats(page: Page): Promise<AudioStats | null> {
  return page.evaluate(async () => {
    const pcs = ((globalThis as any).__peerConnections ?? []) as Array<{ getStats(): Promise<Map<string, unknown>> }>;
    const pc = pcs.at(-1);
    if (!pc) return null;
    const report = await pc.getStats();
    const all = [...(report as any).values()] as any[];
    const inbound = all.find((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
    const outbound = all.find((s) => s.type === 'outbound-rtp' && s.kind === 'audio');
    const transport = all.find((s) => s.type === 'transport');
    const pair = all.find((s) => s.type === 'candidate-pair' && s.id === transport?.selectedCandidatePairId);
    const local = all.find((s) => s.id === pair?.localCandidateId);
    const remote = all.find((s) => s.id === pair?.remoteCandidateId);
    const codec = all.find((s) => s.id === outbound?.codecId);
    return {
      packetsReceived: inbound?.packetsReceived ?? 0,
      totalAudioEnergy: inbound?.totalAudioEnergy ?? 0,
      totalSamplesDuration: inbound?.totalSamplesDuration ?? 0,
      packetsSent: outbound?.packetsSent ?? 0,
      localAddress: local ? `${local.address}:${local.port}` : '',
      remoteAddress: remote ? `${remote.address}:${remote.port}` : '',
      dtlsState: transport?.dtlsState ?? '',
      codec: codec?.mimeType ?? '',
    };
  });
}

/** Records every RTCPeerConnection the page makes, before any page script runs. */
const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peerConnections.push(this); }
  };
})();`;

/**
 * Energy of the echoed audio the phone received over the next `packets` packets: the fake
 * microphone beeps, so an unmuted window of 100 packets (2 s) always holds sound, and a muted
 * one holds none.
 */
async function echoedEnergy(page: Page, packets: number): Promise<number> {
  const start = (await audioStats(page))!;
  const end = await waitFor(`${packets} more packets to arrive`, async () => {
    const s = await audioStats(page);
    return s && s.packetsReceived >= start.packetsReceived + packets ? s : null;
  }, 20_000);
  return end.totalAudioEnergy - start.totalAudioEnergy;
}

describe('a real WebRTC call from the customer app (chromium + drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(180_000);
  let fs: FreeswitchServer;
  let drachtio: DrachtioServer;
  let svc: PagesService;
  let people: People;
  let phone: BrowserSession;
  let desk: BrowserSession;
  let deskPhonePort: number;
  let servers: SipPages['servers'] = [];

  before(async function () {
    skipWhenMissing(this, sipPagesSkipReason('WebRTC call test'));
    // Anna's desk phone is registered with her extension and password (digest).
    ({ fs, drachtio, svc, people, deskPhonePort, servers } = await startSipPages());
    phone = await openBrowser({ viewport: PHONE, timezoneId: CUSTOMER.timeZone, notificationsFor: svc.origin, webrtcOnLoopback: true });
    await phone.context.addInitScript(RECORD_PEER_CONNECTIONS);
    await addVirtualAuthenticator(phone.cdp);
    desk = await openBrowser({ viewport: DESK, timezoneId: 'Europe/London' });
  });

  closePagesAfterSuite(() => ({ phone, desk, svc, others: servers }));

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log('--- FreeSWITCH ---\n', fs?.logs().slice(-6000), '\n--- drachtio ---\n', drachtio?.logs().slice(-4000));
    }
  });

  it('knock, accept with the fingerprint, talk with audio both ways, mute, hang up from the page', async () => {
    await enrolThroughApp(phone.page, svc.origin, { code: people.enrollmentCode, pin: PIN, passkey: true });
    await signInToConsole(desk.page, svc.origin);
    await waitFor('anna to be available (desk phone registered)', async () => (await svc.t.service.deps.store.agents.get(people.agentId))?.availability === 'available');
    await requestCallInConsole(desk.page, REFERENCE, 'Card payment check');

    // The desk phone answers the call that the app will place, and echoes its audio back.
    const deskPhone = await startSippUas({ scenario: 'desk-phone-answer', localPort: deskPhonePort, calls: 1, rtpEcho: true, timeoutMs: 120_000 });
    try {
      const card = appCard(phone.page, REFERENCE);
      await card.waitFor();
      await card.getByRole('link', { name: 'Accept call' }).click();

      // In call: the screen says so, focus is on it, and the timer runs.
      await heading(phone.page, `In call with ${AGENT.name}`);
      assert.equal(await phone.page.evaluate('document.activeElement?.textContent'), `In call with ${AGENT.name}`);
      await phone.page.getByRole('timer', { name: 'Call duration' }).filter({ hasText: /^(?!00:00$)\d\d:\d\d$/ }).waitFor();
      await consoleRow(desk.page, REFERENCE).locator('.state', { hasText: /In call — verified \(biometric at \d\d:\d\d\)/ }).waitFor();

      // Audio both ways, seen by the browser: it sends Opus and receives the desk phone's echo,
      // over DTLS-SRTP on loopback.
      const first = await waitFor('the phone to send and receive audio', async () => {
        const s = await audioStats(phone.page);
        return s && s.packetsSent >= 50 && s.packetsReceived >= 50 ? s : null;
      }, 30_000);
      assert.equal(first.dtlsState, 'connected');
      assert.equal(first.codec, 'audio/opus');
      // FreeSWITCH's end of the media is its loopback address (the browser may use any of its own).
      const fsPort = Number(/^127\.0\.0\.1:(\d+)$/.exec(first.remoteAddress)?.[1]);
      assert.ok(fsPort >= fs.rtpPorts[0] && fsPort <= fs.rtpPorts[1], `media goes to FreeSWITCH's RTP ports, not ${first.remoteAddress}`);
      const later = await waitFor('the packet counts to keep growing', async () => {
        const s = await audioStats(phone.page);
        return s && s.packetsSent >= first.packetsSent + 50 && s.packetsReceived >= first.packetsReceived + 50 ? s : null;
      }, 30_000);

      // ...and by FreeSWITCH: two channels (the phone's and the desk phone's), each with RTP in and out.
      const counters = await waitFor('RTP both ways on both FreeSWITCH channels', async () => {
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 50)) ? (c as RtpCounters[]) : null;
      }, 30_000);
      console.log(
        `      browser: sent ${later.packetsSent}, received ${later.packetsReceived} packets (${later.codec}, ${later.localAddress} ⇄ ${later.remoteAddress}); ` +
          `FreeSWITCH channels in/out: ${counters.map((c) => `${c.inPackets}/${c.outPackets}`).join(', ')}`,
      );
      await screenshot(phone.page, 'in-call');
      await screenshot(desk.page, 'console-in-call');

      // Mute: the adviser hears silence (the echo of the phone's own audio goes quiet); unmute brings it back.
      const loud = await echoedEnergy(phone.page, 100);
      assert.ok(loud > 0, 'the echoed audio carries sound before muting');
      const mute = phone.page.getByRole('button', { name: 'Mute' });
      await mute.click();
      assert.equal(await mute.getAttribute('aria-pressed'), 'true');
      await phone.page.getByRole('status').filter({ hasText: 'Microphone muted.' }).first().waitFor();
      await waitFor('the echoed audio to go silent', async () => (await echoedEnergy(phone.page, 100)) < loud / 1000, 60_000);
      await mute.click();
      assert.equal(await mute.getAttribute('aria-pressed'), 'false');
      await waitFor('the echoed audio to come back', async () => (await echoedEnergy(phone.page, 100)) > loud / 4, 60_000);

      // Hang up on the page: the desk phone gets a BYE, FreeSWITCH lets both channels go.
      await phone.page.getByRole('button', { name: 'Hang up' }).click();
      await heading(phone.page, 'Call ended');
      assert.match((await phone.page.locator('.call-status').textContent()) ?? '', /You ended the call\. It lasted \d\d:\d\d\./);
      const desktop = await deskPhone.done;
      const invite = received(desktop, /^INVITE /);
      assert.match(invite, new RegExp(`^X-Knock-Reference: ${REFERENCE}`, 'im'));
      assert.match(invite, /^X-Knock-Verified: biometric; /im);
      received(desktop, /^BYE /);
      await waitFor('FreeSWITCH to release both channels', async () => (await fsChannels(fs)).length === 0);
      await consoleRow(desk.page, REFERENCE).locator('.state', { hasText: 'Ended — call completed' }).waitFor();
      const [record] = await svc.t.service.deps.store.callRecords.list({ customerId: people.customerId });
      assert.equal(record!.outcome, 'completed');
      assert.equal(record!.verification, 'token:biometric');
    } finally {
      await deskPhone.stop();
    }
  });

  it('tells the customer in plain words why a call was refused, from the SIP status and the server\'s reason code', async () => {
    const reasons = await phone.page.evaluate(async () => {
      const { reasonFromResponse } = await import('/app/call.js' as string);
      return [
        reasonFromResponse(401, 'Unauthorized', undefined, undefined),
        reasonFromResponse(403, 'Forbidden', '399 knock.localhost "token_expired: The token has expired."', 'SIP;cause=403;text="token_expired"'),
        reasonFromResponse(403, 'Forbidden', undefined, 'SIP;cause=403;text="token_misbound"'),
        reasonFromResponse(480, 'Temporarily Unavailable'),
        reasonFromResponse(486, 'Busy Here'),
        reasonFromResponse(503, 'Service Unavailable'),
      ] as string[];
    });
    assert.deepEqual(reasons, [
      'the call server did not receive your verification',
      'your verification expired before the call reached the call server',
      'your verification belongs to a different device',
      'no adviser is available right now',
      'the adviser is busy',
      'the call service is busy; try again in a moment',
    ]);
  });

  it('tells the customer when the call server cannot be reached', async () => {
    await drachtio.kill();
    await requestCallInConsole(desk.page, 'CASE-3002', 'Address change');
    await phone.page.getByRole('link', { name: 'Back to your call requests' }).click();
    const card = appCard(phone.page, 'CASE-3002');
    await card.waitFor();
    await card.getByRole('link', { name: 'Accept call' }).click();
    const alert = phone.page.getByRole('alert').filter({ hasText: 'Call failed' });
    await alert.waitFor();
    assert.equal(await alert.textContent(), 'Call failed: the call server could not be reached.');
    await heading(phone.page, 'Call failed');
  });
});
