/**
 * The customer's token-checked call, end to end on real servers: drachtio-server, FreeSWITCH
 * with the project's freeswitch/ configuration, the whole service, and sipp as both the
 * customer's app endpoint (speaking RTP from a pcap) and the agents' desk phones (registered
 * through the registrar with digest, echoing RTP). Besides the call itself: refusals (no token,
 * bad tokens, no device proof, FreeSWITCH unreachable), the queue (no answer, busy, not
 * registered, nobody available within the queue time) and the customer hanging up while an
 * agent's phone rings.
 */
import assert from 'node:assert/strict';
import { verifySessionForTransfer } from '../../src/flows/call-session.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import { rtpCounters, type RtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import type { FreeswitchServer } from '../support/freeswitch-server.js';
import type { SipTestEnv } from '../support/sip-test-env.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { callerArgs, DESK_PHONE_PASSWORD, deviceProofFor, verifiedCall, type ContactCenter } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('customer calls with a pre-authentication token (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben] });
  let fs: FreeswitchServer;
  let env: SipTestEnv;
  let deps: FlowDeps;
  let cc: ContactCenter;
  let pcap: string;
  let usedToken: string;
  let phonePort: Record<string, number>;

  before(function () {
    ({ fs, env, deps, cc, pcap, phonePort } = center());
  });

  // The app's call: the token plus the Knock-Device-Proof its enrolled device key signs for this call.
  const customerCall = (token: string, talkMs: number) => {
    const caller = callerArgs(cc, token);
    return runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: String(talkMs) }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
  };

  const refusedCall = async (token: string, opts: Parameters<typeof callerArgs>[2] = {}) => {
    const caller = callerArgs(cc, token, opts);
    const r = await runSipp({ scenario: 'customer-call-refused', remote: env.remote, service: 'agent', vars: caller.vars, extraArgs: caller.extraArgs, timeoutMs: 15_000 });
    return received(r, /^SIP\/2\.0 403/);
  };

  it('bridges a verified call to the agent who knocked: RTP both ways, who is calling on the desk phone, session open until hang-up', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2001');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      const call = customerCall(token, 9000);
      // While they talk: two FreeSWITCH channels (customer, agent), each hearing and sending.
      const counters = await waitFor(
        'RTP both ways through the bridge',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return null;
          const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
          return c.every((x) => carriesAudio(x, 50)) ? (c as RtpCounters[]) : null;
        },
        20_000,
      );
      // The customer's token never reached FreeSWITCH.
      for (const ch of await fsChannels(fs)) assert.ok(!(await fs.api(`uuid_dump ${ch.uuid}`)).includes(token), 'token found on a FreeSWITCH channel');
      // The session exists while the call is up.
      const [record] = await waitFor('the call record', async () => {
        const list = await deps.store.callRecords.list({ callRequestId: requestId });
        return list.length ? list : null;
      });
      assert.equal(record!.agentId, cc.agents.anna!.id);
      assert.equal(record!.verification, 'token:biometric');
      const sessionId = record!.sessionId!;
      assert.match(sessionId, /^[0-9a-f]{32}$/);
      assert.equal((await deps.store.sessions.get(sessionId))!.revokedAt, null);
      console.log(
        `      RTP through the bridge (packets in/out per FreeSWITCH channel): ${counters.map((c) => `${c.inPackets}/${c.outPackets}`).join(', ')}; the customer's pcap holds ${center().pcapPackets}`,
      );

      const customer = await call;
      const desk = await anna.done;
      // The desk phone was told who calls, that they are verified and how, and nothing secret.
      const invite = received(desk, /^INVITE /);
      assert.match(invite, /^P-Asserted-Identity: "Chris Customer" <sip:\+447700900123@knock\.localhost>/im);
      assert.match(invite, /^X-Knock-Reference: CASE-2001/im);
      assert.match(invite, /^X-Knock-Verified: biometric; at=\d{4}-\d\d-\d\dT[\d:.]+Z; via=token/im);
      assert.match(invite, new RegExp(`^Call-Info: <${env.svc.config.server.publicUrl}/console/#/requests/${requestId}>;purpose=info`, 'im'));
      assert.match(invite, new RegExp(`^Session-ID: ${sessionId};remote=0{32}`, 'im'));
      assert.doesNotMatch(invite, /Authorization|Bearer|Knock-Device-Proof/i);
      assert.ok(!invite.includes(token));
      // The customer's 200 OK carried the same Session-ID.
      assert.match(received(customer, /^SIP\/2\.0 200/), new RegExp(`^Session-ID: ${sessionId}`, 'im'));

      // Hang-up: session revoked, record closed, request ended, agent free, transfer impossible.
      await waitFor('the session to be revoked', async () => (await deps.store.sessions.get(sessionId))!.revokedAt !== null);
      const [closed] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(closed!.outcome, 'completed');
      assert.ok(closed!.endedAt);
      assert.equal((await deps.store.callRequests.get(requestId))!.state, 'ended');
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      await assert.rejects(verifySessionForTransfer(deps, sessionId, cc.agents.ben!.id), { code: 'session_revoked' });
      await waitFor('FreeSWITCH to release both channels', async () => (await fsChannels(fs)).length === 0);
      assert.ok(!env.svc.logs.some((line) => line.includes(token)), 'the token was logged');
      usedToken = token;
    } finally {
      await anna.stop();
    }
  });

  it('answers an INVITE without a token with 401 and a Bearer challenge', async () => {
    await runSipp({ scenario: 'customer-call-no-token', remote: env.remote, service: 'agent', timeoutMs: 15_000 });
    const audit = await deps.store.audit.list({ limit: 10_000 });
    assert.ok(audit.some((e) => e.action === 'token.verify' && e.decision === 'deny' && e.data.code === 'token_missing'));
  });

  it('refuses a replayed, a forged and an expired token with 403 saying why', async () => {
    assert.ok(usedToken, 'needs the token of the first call');
    assert.match(await refusedCall(usedToken), /^Reason: SIP;cause=403;text="token_replayed"/im);

    const { token } = await verifiedCall(env.svc, cc, 'ben', 'CASE-2002');
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, crq: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}.${s}`;
    const refused = await refusedCall(forged);
    assert.match(refused, /^Reason: SIP;cause=403;text="token_invalid"/im);
    assert.match(refused, /^Warning: 399 knock\.localhost "token_invalid: /im);

    // The same genuine token, presented after its two minutes are up.
    env.svc.advance(125_000);
    try {
      assert.match(await refusedCall(token), /^Reason: SIP;cause=403;text="token_expired"/im);
    } finally {
      env.svc.advance(-125_000);
    }
    assert.equal((await fsChannels(fs)).length, 0, 'a refused call must not reach FreeSWITCH');
  });

  it('refuses a genuine token without a proof by its device key (403 token_misbound) and leaves it unspent', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2006');

    // Someone who copied the token but holds another device key.
    const stolen = await refusedCall(token, { key: new SoftDeviceKey() });
    assert.match(stolen, /^Reason: SIP;cause=403;text="token_misbound"/im);
    // No proof at all.
    const bare = await refusedCall(token, { proof: '' });
    assert.match(bare, /^Reason: SIP;cause=403;text="token_misbound"/im);
    assert.match(bare, /^Warning: 399 knock\.localhost "token_misbound: [^"]*device proof required/im);
    // The right key's proof, lifted from another call (other Call-ID and From tag).
    const lifted = await refusedCall(token, { proof: deviceProofFor(cc.deviceKey, token, 'other-call@127.0.0.1', 'othertag') });
    assert.match(lifted, /^Reason: SIP;cause=403;text="token_misbound"/im);
    assert.equal((await fsChannels(fs)).length, 0, 'a refused call must not reach FreeSWITCH');

    const denials = (await deps.store.audit.list({ limit: 10_000 })).filter((e) => e.action === 'token.verify' && e.decision === 'deny' && e.data.code === 'token_misbound');
    assert.ok(denials.length >= 3, 'each refused proof is audited');

    // None of that spent the token: the genuine device still gets through with it.
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 3000);
      await anna.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.anna!.id);
      assert.equal(record!.outcome, 'completed');
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
    } finally {
      await anna.stop();
    }
  });

  it('offers the call to the next agent of the group when the agent who knocked does not answer', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2003');
    const anna = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1001'], calls: 1, timeoutMs: 60_000 });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 7000);
      const rang = await anna.done;
      assert.match(received(rang, /^INVITE /), /^X-Knock-Reference: CASE-2003/im);
      received(rang, /^CANCEL /);
      const answered = await ben.done;
      assert.match(received(answered, /^INVITE /), /^X-Knock-Verified: biometric; /im);
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.ben!.id);
      assert.equal(record!.outcome, 'completed');
      const audit = await deps.store.audit.list({ subject: `call_request:${requestId}` });
      assert.ok(audit.some((e) => e.action === 'call.offer' && e.data.agentId === cc.agents.anna!.id && e.data.outcome === 'no_answer'));
      await waitFor('both agents to be available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });

  it("moves on at once when the agent's phone is busy", async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2004');
    const anna = await startSippUas({ scenario: 'agent-busy', localPort: phonePort['1001'], calls: 1, timeoutMs: 60_000 });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 3000);
      await anna.done;
      await ben.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.ben!.id);
      const audit = await deps.store.audit.list({ subject: `call_request:${requestId}` });
      assert.ok(audit.some((e) => e.action === 'call.offer' && e.data.outcome === 'busy'));
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });
  it('answers hold and unhold re-INVITEs inside the dialog without asking for a token', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2005');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      // The scenario checks each re-INVITE gets 200 with the answering direction.
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call-hold', remote: env.remote, service: 'agent', vars: caller.vars, extraArgs: caller.extraArgs, timeoutMs: 30_000 });
      await anna.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.outcome, 'completed');
      // One token check for the call, none for its re-INVITEs (they never reach the token check).
      const checks = (await deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'token.verify');
      assert.equal(checks.length, 1);
      const dialogId = checks[0]!.data.dialogId as string;
      assert.deepEqual(await deps.store.audit.list({ subject: `dialog:${dialogId}` }), []);
    } finally {
      await anna.stop();
    }
  });

  it('refuses a call while FreeSWITCH is unreachable with 503 and Retry-After, audited, and leaves the token unspent', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2007');
    const media = env.svc.service.customerCalls!.media;
    let refused = '';
    await fs.restart(async () => {
      await waitFor('the service to notice FreeSWITCH is gone', () => !media.isConnected(), 30_000);
      const caller = callerArgs(cc, token);
      const r = await runSipp({ scenario: 'customer-call-unavailable', remote: env.remote, service: 'agent', vars: caller.vars, extraArgs: caller.extraArgs, timeoutMs: 15_000 });
      refused = received(r, /^SIP\/2\.0 503/);
    });
    assert.match(refused, /^Retry-After: \d+/im);
    assert.match(refused, /^Warning: 399 knock\.localhost "media_unavailable: /im);
    const refusals = (await deps.store.audit.list({ limit: 10_000 })).filter((e) => e.action === 'call.refuse' && e.decision === 'deny' && e.data.code === 'media_unavailable');
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0]!.data.tokenSpent, false);
    assert.ok(!(await deps.store.audit.list({ subject: `call_request:${requestId}` })).some((e) => e.action === 'token.verify'), 'the token was not checked, so not spent');
    assert.notEqual((await deps.store.callRequests.get(requestId))!.state, 'ended');

    // FreeSWITCH is back: the same token places the call.
    await media.whenConnected(30_000);
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 2000);
      await anna.done;
    } finally {
      await anna.stop();
    }
    await waitFor('the call to end as completed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
  });

  it("ends the ringing when the customer hangs up while the agent's phone rings: CANCEL, agent free, request abandoned", async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2008');
    // Anna's phone rings (for sip.agentRingSeconds, 3 s here) until the server CANCELs it.
    const anna = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1001'], calls: 1, timeoutMs: 60_000 });
    try {
      // The customer is answered at once (hold music) and hangs up after two seconds of waiting,
      // while the phone still rings.
      await customerCall(token, 2000);
      const rang = await anna.done;
      assert.match(received(rang, /^INVITE /), /^X-Knock-Reference: CASE-2008/im);
      assert.ok(received(rang, /^CANCEL /));
    } finally {
      await anna.stop();
    }
    await waitFor('the request to end as abandoned', async () => {
      const request = await deps.store.callRequests.get(requestId);
      return request!.state === 'ended' && request!.outcome === 'abandoned';
    });
    // Recorded from the moment the customer was queued; nobody answered: never answered, no session.
    const records = (await deps.store.callRecords.list({ callRequestId: requestId })).map((r) => [r.outcome, r.answeredAt, r.sessionId, r.agentId]);
    assert.deepEqual(records, [['abandoned', null, null, null]]);
    const audit = await deps.store.audit.list({ subject: `call_request:${requestId}` });
    assert.ok(audit.some((e) => e.action === 'call.offer' && e.data.agentId === cc.agents.anna!.id && e.data.outcome === 'abandoned'));
    await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
    await waitFor('FreeSWITCH to release the channels', async () => (await fsChannels(fs)).length === 0);
  });

  it('offers the call to the next agent when the agent who knocked has no phone registered any more', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2009');
    const annaPhone = { user: '1001', localPort: phonePort['1001']! };
    const register = (scenario: string) =>
      runSipp({ scenario, remote: env.remote, localPort: annaPhone.localPort, timeoutMs: 10_000, vars: { user: annaPhone.user, expires: '600' }, extraArgs: ['-au', annaPhone.user, '-ap', DESK_PHONE_PASSWORD] });
    await register('register-remove');
    await waitFor('anna to go offline', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'offline');
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 2000);
      assert.match(received(await ben.done, /^INVITE /), /^X-Knock-Reference: CASE-2009/im);
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.ben!.id);
      const audit = await deps.store.audit.list({ subject: `call_request:${requestId}` });
      assert.ok(!audit.some((e) => e.action === 'call.offer' && e.data.agentId === cc.agents.anna!.id), "Anna's phone was not rung");
    } finally {
      await ben.stop();
      await register('register-ok');
    }
    await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
  });

  it('refuses a valid token whose INVITE body is not SDP with 488, and leaves the token unspent', async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2011');
    const caller = callerArgs(cc, token);
    const r = await runSipp({ scenario: 'customer-call-not-sdp', remote: env.remote, service: 'agent', vars: caller.vars, extraArgs: caller.extraArgs, timeoutMs: 15_000 });
    assert.match(received(r, /^SIP\/2\.0 488/), /^Warning: 305 knock\.localhost "[^"]*not application\/sdp/im);
    assert.equal((await fsChannels(fs)).length, 0, 'a refused call must not reach FreeSWITCH');
    const checks = (await deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'token.verify');
    assert.deepEqual(checks, [], 'the token was not looked at');
    // The same token then places the call.
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      await customerCall(token, 2000);
      await anna.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.outcome, 'completed');
    } finally {
      await anna.stop();
    }
    await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
  });

  it("refuses a REFER from the customer's leg with 403: the customer cannot transfer, and the call goes on", async () => {
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2012');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      // The scenario checks the 403 and its Warning, then hangs up normally.
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call-refer', remote: env.remote, service: 'agent', vars: caller.vars, extraArgs: caller.extraArgs, timeoutMs: 30_000 });
      await anna.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.anna!.id, 'still with the agent who knocked');
      assert.equal(record!.outcome, 'completed');
    } finally {
      await anna.stop();
    }
    await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
  });

  it('reports SIP and media as up in readiness', async () => {
    const ready = await env.svc.call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.components.sip, 'up');
    assert.equal(ready.body.components.media, 'up');
  });
});

describe('customer calls nobody takes (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  // The shortest queue time the configuration allows.
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben], env: { KNOCK_MEDIA__QUEUE_TIMEOUT_SECONDS: '10' } });

  it('keeps the customer on hold music while every agent is away, then hangs up after the queue time (no_answer)', async () => {
    const { env, deps, cc, fs } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-2010');
    for (const agent of ['anna', 'ben']) {
      const away = await env.svc.call('PUT', '/api/v1/me/availability', { token: cc.consoleTokens[agent]!, body: { availability: 'away' } });
      assert.equal(away.status, 200, away.text);
    }
    const caller = callerArgs(cc, token);
    // The customer stays in the call until the server hangs up.
    const call = runSipp({ scenario: 'customer-call-timer', remote: env.remote, service: 'agent', vars: { ...caller.vars, se: '1800' }, extraArgs: caller.extraArgs, timeoutMs: 40_000 });
    const music = await waitFor('hold music to the waiting customer', async () => {
      const [channel] = await fsChannels(fs);
      const c = channel ? await rtpCounters((cmd) => fs.api(cmd), channel.uuid) : null;
      return c && c.outPackets >= 50 ? c : null;
    });
    assert.ok(music.outBytes >= 50 * 160);
    const r = await call;
    assert.ok(received(r, /^BYE /), 'the server hung up after the queue time');

    await waitFor('the request to end as not answered', async () => {
      const request = await deps.store.callRequests.get(requestId);
      return request!.state === 'ended' && request!.outcome === 'no_answer';
    });
    const records = (await deps.store.callRecords.list({ callRequestId: requestId })).map((r) => [r.outcome, r.answeredAt, r.sessionId, r.agentId]);
    assert.deepEqual(records, [['no_answer', null, null, null]], 'recorded while queued; no agent took it: never answered, no session');
    const offers = (await deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'call.offer');
    assert.deepEqual(offers, [], 'no away agent was rung');
    await waitFor('FreeSWITCH to release the channel', async () => (await fsChannels(fs)).length === 0);
  });
});
