/**
 * An agent-dialled callback reaching the customer's app, for real (drachtio-server, FreeSWITCH,
 * sipp as the agent's desk phone and as the app's media): the app is not registered, so the
 * server pushes "callback.incoming" (read from the push service double, decrypted); the app
 * registers with its registration token and device proof (a Node UDP user agent, since the proof
 * is signed over the Call-ID and From tag it picks); the app rings; the customer accepts with the
 * biometric; the app answers with an INVITE that replaces the ringing one and carries the token
 * and proof (sipp); the server bridges it to the waiting agent with RTP both ways and opens the
 * verified session. A wrong device proof ends the attempt instead, recorded.
 */
import assert from 'node:assert/strict';
import { rtpCounters } from '../../src/media/media-stats.js';
import { freePort } from '../support/drachtio-server.js';
import { AGENTS, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import { FakeAppUa, header, registerProofFor, type RingingInvite } from '../support/fake-app-ua.js';
import type { TestSubscription } from '../support/fake-push-service.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, scheduledCallbackSoon } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('agent-dialled callbacks answered in the app (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({
    agents: [AGENTS.anna],
    callbackMode: 'agent_calls',
    // Short enough for the "never registers" case; the app registers within a second here.
    env: { KNOCK_SIP__APP_REGISTER_WAIT_SECONDS: '8', KNOCK_SIP__APP_RING_SECONDS: '30' },
  });
  let ua: FakeAppUa;
  let push: TestSubscription;

  before(async function () {
    // The app's push subscription, so the test can read what the server pushes.
    const { env, cc } = center();
    push = env.svc.push.createSubscription();
    const sub = await env.svc.call('PUT', '/api/v1/devices/me/push-subscription', { token: cc.deviceCredential, body: push.subscription });
    assert.equal(sub.status, 204, sub.text);
    ua = await FakeAppUa.start({ host: '127.0.0.1', port: env.drachtio.sipPort }, await freePort({ udp: true }));
  });

  after(async function () {
    await ua?.close();
  });

  const scheduleCallback = (reference: string) => scheduledCallbackSoon(center().env.svc, center().cc, reference);

  /** The app registers as it does when woken: token from the API, REGISTER with the device proof. */
  async function appRegisters(): Promise<void> {
    const { env, cc, deps } = center();
    const issued = await env.svc.call('POST', '/api/v1/devices/me/sip-registration', { token: cc.deviceCredential });
    assert.equal(issued.status, 200, issued.text);
    const token = issued.body.token as string;
    const ok = await ua.register({
      deviceId: cc.deviceId,
      domain: deps.config.sip.domain,
      token,
      proof: (callId, fromTag, contact) => registerProofFor(cc.deviceKey, token, callId, fromTag, contact),
      expires: 600,
    });
    assert.match(ok.startLine, /^SIP\/2\.0 200/, ok.raw);
  }

  /** The customer taps Answer: accept + biometric for the ringing request, as the app's API calls. */
  async function customerVerifies(requestId: string): Promise<string> {
    const { env, cc } = center();
    const challenge = await env.svc.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: cc.deviceCredential });
    assert.equal(challenge.status, 200, challenge.text);
    const issued = await env.svc.call('POST', `/api/v1/app/requests/${requestId}/authenticate`, {
      token: cc.deviceCredential,
      body: { challengeId: challenge.body.challengeId, method: 'biometric', webauthn: cc.authenticator.assert(challenge.body.webauthn) },
    });
    assert.equal(issued.status, 200, issued.text);
    return issued.body.token as string;
  }

  const replacesFor = (ring: RingingInvite) => `${ring.callId};to-tag=${ring.toTag};from-tag=${ring.fromTag}`;

  it('pushes, waits for the app to register, rings it, and bridges the verified answer to the agent', async () => {
    const { deps, cc, fs, phonePort, pcap } = center();
    const anna = await startSippUas({ scenario: 'desk-phone-answer-callback', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 90_000 });
    try {
      const requestId = await scheduleCallback('CASE-5001');

      // No device is registered: the app is woken with a push naming the agent and the case.
      const woken = await waitFor('the callback.incoming push', () =>
        (push.payloads() as Array<Record<string, unknown>>).find((p) => p.kind === 'callback_incoming' && p.callRequestId === requestId),
      30_000);
      assert.equal(woken.agentName, 'Anna Agent');
      assert.equal(woken.reference, 'CASE-5001');
      assert.match(String(woken.title), /Anna Agent/);

      await appRegisters();
      const ring = await waitFor('the app to ring', () => ua.invites.find((i) => header(i.message, 'X-Knock-Request') === requestId), 30_000);
      assert.equal(header(ring.message, 'X-Knock-Reference'), 'CASE-5001');
      assert.equal(header(ring.message, 'X-Knock-Agent'), 'Anna Agent');
      assert.equal(ring.message.body.trim(), '', 'the ringing INVITE offers no media: the answer brings it');
      assert.doesNotMatch(ring.message.raw, /447700900123/);

      const token = await customerVerifies(requestId);
      const caller = callerArgs(cc, token);
      const answer = runSipp({
        scenario: 'customer-app-answer-callback',
        remote: center().env.remote,
        service: 'agent',
        vars: { ...caller.vars, replaces: replacesFor(ring), pcap, talk_ms: '6000' },
        extraArgs: caller.extraArgs,
        timeoutMs: 60_000,
      });

      const counters = await waitFor(
        'RTP both ways between the agent and the app',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return null;
          const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
          return c.every((x) => carriesAudio(x, 25)) ? c : null;
        },
        30_000,
      );
      console.log(`      callback to the app, RTP in/out per FreeSWITCH channel: ${counters.map((c) => `${c!.inPackets}/${c!.outPackets}`).join(', ')}`);
      // While connected: the request is connected and its session open.
      const connected = await waitFor('the request to be connected', async () => {
        const r = await deps.store.callRequests.get(requestId);
        return r?.state === 'connected' ? r : null;
      });
      assert.equal(connected.authMethod, 'biometric');
      const [live] = await deps.store.callRecords.list({ callRequestId: requestId });
      const session = await deps.store.sessions.get(live!.sessionId!);
      assert.ok(session && !session.revokedAt, 'the verified session is open during the call');
      assert.ok(ring.cancelled, 'the ringing INVITE was cancelled once the answer replaced it');
      assert.match(ring.cancelReason ?? '', /^SIP;cause=200;text="Call completed elsewhere"$/, 'other devices learn the call was answered (RFC 3326)');

      const app = await answer;
      assert.match(received(app, /^SIP\/2\.0 200/), /^Session-ID: [0-9a-f]{32}/im);
      const desk = await anna.done;
      assert.match(received(desk, /^INVITE /), /^X-Knock-Verified: no/im);
      assert.match(received(desk, /^INFO /), /^X-Knock-Verified: biometric; at=/im);

      await waitFor('the callback to be recorded as completed', async () => (await deps.store.callRequests.get(requestId))!.state === 'ended');
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.direction, 'outbound');
      assert.equal(record!.agentId, cc.agents.anna!.id);
      assert.equal(record!.verification, 'token:biometric');
      assert.equal(record!.outcome, 'completed');
      assert.ok((await deps.store.sessions.get(record!.sessionId!))!.revokedAt, 'the session is revoked at hang-up');
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
    } finally {
      await anna.stop();
    }
  });

  it('gives the attempt to the retry policy when the woken app does not register in time', async () => {
    const { deps, cc, env, phonePort } = center();
    // The app de-registers (it was left registered by the first call).
    const issued = await env.svc.call('POST', '/api/v1/devices/me/sip-registration', { token: cc.deviceCredential });
    const token = issued.body.token as string;
    const gone = await ua.register({ deviceId: cc.deviceId, domain: deps.config.sip.domain, token, proof: (callId, fromTag, contact) => registerProofFor(cc.deviceKey, token, callId, fromTag, contact), expires: 0 });
    assert.match(gone.startLine, /^SIP\/2\.0 200/);
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 90_000 });
    try {
      const requestId = await scheduleCallback('CASE-5003');
      await waitFor('the callback.incoming push', () => (push.payloads() as Array<Record<string, unknown>>).find((p) => p.kind === 'callback_incoming' && p.callRequestId === requestId), 30_000);
      await anna.done; // answered, then hung up on when no registration came
      const retried = await waitFor('the callback to go back to the retry policy', async () => {
        const r = await deps.store.callRequests.get(requestId);
        return r && r.state === 'scheduled' && r.attempts === 1 ? r : null;
      }, 30_000);
      assert.equal(retried.outcome, 'no_answer');
      assert.ok(!ua.invites.some((i) => header(i.message, 'X-Knock-Request') === requestId), 'nothing rang');
      const sent = await deps.store.notifications.listFor(requestId);
      assert.ok(sent.some((n) => n.kind === 'callback_incoming' && n.status === 'sent'));
      const cancelled = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/cancel`, { token: cc.consoleTokens.anna! });
      assert.equal(cancelled.status, 200, cancelled.text);
    } finally {
      await anna.stop();
    }
  });

  it('refuses the callback token as an ordinary call, then ends the attempt when the answer carries a wrong device proof (403, agent hung up, retry recorded)', async () => {
    const { deps, cc, phonePort } = center();
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 90_000 });
    try {
      // Registered before the callback is due: no push needed, the app rings at once.
      await appRegisters();
      const requestId = await scheduleCallback('CASE-5002');
      const ring = await waitFor('the app to ring', () => ua.invites.find((i) => header(i.message, 'X-Knock-Request') === requestId), 30_000);
      const token = await customerVerifies(requestId);
      // The token answers this callback only: placed as an ordinary call (no Replaces) it is
      // refused before it is spent, and the callback keeps ringing for its agent.
      const plain = callerArgs(cc, token);
      const asCall = await runSipp({ scenario: 'customer-call-refused', remote: center().env.remote, service: 'agent', vars: plain.vars, extraArgs: plain.extraArgs, timeoutMs: 15_000 });
      const refusedCall = received(asCall, /^SIP\/2\.0 403/);
      assert.match(refusedCall, /^Reason: SIP;cause=403;text="token_misbound"/im);
      assert.match(refusedCall, /^Warning: 399 [^ ]+ "token_misbound: [^"]*answer a callback, not to place a call/im);
      assert.equal((await deps.store.callRequests.get(requestId))!.state, 'agent_dialled');
      assert.equal(ring.cancelled, false, 'the refused call did not end the ringing callback');

      const caller = callerArgs(cc, token, { key: new SoftDeviceKey() });
      const refused = await runSipp({
        scenario: 'customer-app-answer-refused',
        remote: center().env.remote,
        service: 'agent',
        vars: { ...caller.vars, replaces: replacesFor(ring) },
        extraArgs: caller.extraArgs,
        timeoutMs: 20_000,
      });
      assert.match(received(refused, /^SIP\/2\.0 403/), /^Reason: SIP;cause=403;text="token_misbound"/im);
      await anna.done; // the agent was hung up on (BYE)

      const retried = await waitFor('the callback to go back to the retry policy', async () => {
        const r = await deps.store.callRequests.get(requestId);
        return r && r.state === 'scheduled' && r.attempts === 1 ? r : null;
      });
      assert.equal(retried.outcome, 'failed');
      // The attempt was recorded from the moment the agent was on hold; it was never answered.
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.deepEqual(records.map((r) => [r.outcome, r.answeredAt, r.agentId]), [['failed', null, cc.agents.anna!.id]]);
      const denied = (await deps.store.audit.list({ limit: 500 })).filter((e) => e.action === 'token.verify' && e.decision === 'deny' && e.data.code === 'token_misbound');
      assert.ok(denied.some((e) => e.subject === `dialog:${caller.callId};from-tag=${caller.vars.from_tag}`), 'the refusal is audited for the answering dialog');
      assert.ok(ring.cancelled);
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      const cancelled = await center().env.svc.call('POST', `/api/v1/call-requests/${requestId}/cancel`, { token: cc.consoleTokens.anna! });
      assert.equal(cancelled.status, 200, cancelled.text);
    } finally {
      await anna.stop();
    }
  });

  // Last: it kills FreeSWITCH under the suite's call center (and brings it back).
  it('ends the attempt at once when FreeSWITCH dies while the agent waits for the app: agent hung up, the app stops ringing, retried as media_lost', async () => {
    const { deps, cc, env, fs, phonePort } = center();
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 90_000 });
    try {
      await appRegisters();
      const requestId = await scheduleCallback('CASE-5004');
      // The agent answered and is on hold; the app rings (for 30 s, the suite's setting).
      const ring = await waitFor('the app to ring', () => ua.invites.find((i) => header(i.message, 'X-Knock-Request') === requestId), 30_000);
      await fs.crash();
      await anna.done; // the agent's phone got a BYE
      let seen = '';
      const retried = await waitFor('the attempt to end as media_lost, retried', async () => {
        const r = await deps.store.callRequests.get(requestId);
        seen = `${r?.state} after ${r?.attempts} attempts, outcome ${r?.outcome}`;
        return r && r.state === 'scheduled' && r.attempts === 1 ? r : null;
      }, 10_000).catch((e: Error) => {
        console.log(env.svc.logs.filter((l) => /outbound-callback|call-reconciler|CASE-5004|error/.test(l)).slice(-40).join('\n'));
        throw new Error(`${e.message}: the request is ${seen}`);
      });
      assert.equal(retried.outcome, 'media_lost', 'ended by the lost media server, not by the ring timing out');
      assert.ok(ring.cancelled, 'the app stopped ringing');
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record?.outcome, 'media_lost');
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      const cancelled = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/cancel`, { token: cc.consoleTokens.anna! });
      assert.equal(cancelled.status, 200, cancelled.text);
    } finally {
      await anna.stop();
      await fs.start();
      await waitFor('the service to reconnect to FreeSWITCH', () => env.svc.call('GET', '/readyz').then((r) => r.body.components.media === 'up'), 30_000);
    }
  });
});
