/**
 * Mid-call behaviour desk phones use every day, on real servers (drachtio-server, FreeSWITCH,
 * sipp as phones and as the customer app): hold from the agent's side, re-INVITE glare (491),
 * early media between desk phones, RFC 4028 session timers (422, negotiated interval, refresh,
 * expiry on the agent's leg and on the customer's), and the agent hanging up while a blind
 * transfer rings the next agent.
 */
import assert from 'node:assert/strict';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, allReceived, received, useCallCenter } from '../support/call-center.js';
import { freePort } from '../support/drachtio-server.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('mid-call behaviour (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben, AGENTS.carl] });

  async function channelStates(): Promise<Array<{ uuid: string; callstate: string }>> {
    const parsed = JSON.parse(await center().fs.api('show channels as json')) as { rows?: Array<{ uuid: string; callstate: string }> };
    return parsed.rows ?? [];
  }

  /** Anna's desk phone calling another extension through the B2BUA (digest-authenticated). */
  function deskCall(scenario: string, dialled: string, timeoutMs = 20_000) {
    const { env } = center();
    return freePort({ udp: true }).then((localPort) =>
      runSipp({ scenario, remote: env.remote, localPort, timeoutMs, vars: { user: '1001', dialled }, extraArgs: ['-au', '1001', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `${dialled}@${env.remote}`] }),
    );
  }

  async function allAvailable(): Promise<void> {
    const { deps, cc } = center();
    await waitFor('every agent available again', async () =>
      (await Promise.all(Object.values(cc.agents).map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
    );
  }

  it('puts the customer on hold from the desk phone: answered recvonly, the customer hears hold music, unhold resumes', async () => {
    const { env, deps, cc, fs, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5001');
    // The scenario checks the hold is answered a=recvonly and the unhold without a hold direction.
    const anna = await startSippUas({ scenario: 'agent-hold', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { hold_ms: '4000' } });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '9000' }, extraArgs: caller.extraArgs, timeoutMs: 40_000 });

      // FreeSWITCH holds Anna's channel and keeps sending the customer audio (its hold music).
      const held = await waitFor("Anna's FreeSWITCH channel on hold", async () => {
        const rows = await channelStates();
        return rows.length === 2 && rows.some((r) => r.callstate === 'HELD') ? rows : null;
      });
      const customerChannel = held.find((r) => r.callstate !== 'HELD')!.uuid;
      const before = (await rtpCounters((cmd) => fs.api(cmd), customerChannel))!.outPackets;
      await waitFor('audio to the customer while on hold', async () => (await rtpCounters((cmd) => fs.api(cmd), customerChannel))!.outPackets >= before + 25);
      await waitFor('the hold to end', async () => {
        const rows = await channelStates();
        return rows.length === 2 && rows.every((r) => r.callstate === 'ACTIVE');
      });

      await customer;
      await anna.done;
      await waitFor('the call to end as completed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
    } finally {
      await anna.stop();
    }
  });

  it('puts the agent on hold when the customer app holds: FreeSWITCH holds its channel and the agent hears hold music', async () => {
    const { env, deps, cc, fs, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5007');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call-hold-long', remote: env.remote, service: 'agent', vars: { ...caller.vars, hold_ms: '4000' }, extraArgs: caller.extraArgs, timeoutMs: 40_000 });
      const held = await waitFor("the customer's FreeSWITCH channel on hold", async () => {
        const rows = await channelStates();
        return rows.length === 2 && rows.some((r) => r.callstate === 'HELD') ? rows : null;
      });
      const agentChannel = held.find((r) => r.callstate !== 'HELD')!.uuid;
      const before = (await rtpCounters((cmd) => fs.api(cmd), agentChannel))!.outPackets;
      await waitFor('audio to the agent while on hold', async () => (await rtpCounters((cmd) => fs.api(cmd), agentChannel))!.outPackets >= before + 25);
      await customer;
      await anna.done;
      await waitFor('the call to end as completed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
    } finally {
      await anna.stop();
    }
  });

  it('answers crossing re-INVITEs on a desk phone call with 491 and completes the first', async () => {
    const { phonePort } = center();
    // Ben's phone re-INVITEs while Anna's hold is being relayed to it: its own gets 491.
    const ben = await startSippUas({ scenario: 'desk-phone-glare-callee', localPort: phonePort['1002'], calls: 1, timeoutMs: 30_000 });
    try {
      const anna = await deskCall('desk-phone-call-hold', '1002');
      const b = await ben.done;
      assert.match(received(b, /^SIP\/2\.0 491/), /491 Request Pending/);
      const holdAnswer = allReceived(anna, /^SIP\/2\.0 200/).find((m) => /^CSeq: 3 INVITE/im.test(m));
      assert.match(holdAnswer ?? '', /a=recvonly/);
    } finally {
      await ben.stop();
    }
    await allAvailable();
  });

  it("relays the called phone's early media (183 with SDP) to the calling desk phone", async () => {
    const { phonePort } = center();
    const ben = await startSippUas({ scenario: 'desk-phone-early-media', localPort: phonePort['1002'], calls: 1, timeoutMs: 30_000 });
    try {
      const anna = await deskCall('desk-phone-call', '1002');
      const early = received(anna, /^SIP\/2\.0 183/);
      assert.match(early, /^o=ringback /m);
      assert.match(early, /^Content-Type: application\/sdp/im);
      await ben.done;
    } finally {
      await ben.stop();
    }
    await allAvailable();
  });

  it('refuses a session interval below the minimum with 422 and Min-SE, before the token is spent', async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5002');
    const short = callerArgs(cc, token);
    await runSipp({ scenario: 'customer-call-short-timer', remote: env.remote, service: 'agent', vars: { ...short.vars, se: '30' }, extraArgs: short.extraArgs, timeoutMs: 15_000 });
    // The same token still places the call.
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '1000' }, extraArgs: caller.extraArgs, timeoutMs: 30_000 });
      await anna.done;
    } finally {
      await anna.stop();
    }
    await waitFor('the call on the record', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
    // A desk phone asking for too short an interval is refused the same way.
    await deskCall('desk-phone-call-short-timer', '1002');
    await allAvailable();
  });

  it('negotiates session timers on both legs and refreshes the agent leg as refresher', async () => {
    const { env, deps, cc, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5003');
    // Anna's phone lets the server refresh every 20 s: the refresh comes within 5-15 s (drachtio-server jitters it).
    const anna = await startSippUas({ scenario: 'desk-phone-session-timer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { se: '20;refresher=uac' }, timeoutMs: 60_000 });
    try {
      const caller = callerArgs(cc, token);
      const customer = await runSipp({ scenario: 'customer-call-timer', remote: env.remote, service: 'agent', vars: { ...caller.vars, se: '120;refresher=uac' }, extraArgs: caller.extraArgs, timeoutMs: 50_000 });
      const answer = received(customer, /^SIP\/2\.0 200/);
      assert.match(answer, /^Session-Expires: 120;refresher=uac/im);
      assert.match(answer, /^Require: timer/im);

      const a = await anna.done;
      const invites = allReceived(a, /^INVITE /);
      assert.match(invites[0]!, /^Session-Expires: 1800/im);
      assert.match(invites[0]!, /^Supported: .*timer/im);
      assert.equal(invites.length, 2, 'the call, then one refreshing re-INVITE');
      assert.match(invites[1]!, /^Session-Expires: 20/im);
    } finally {
      await anna.stop();
    }
    await waitFor('the call to end as completed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'completed');
  });

  it("ends the call on both sides when the agent's phone does not refresh the session in time", async () => {
    const { env, deps, cc, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5004');
    // Anna's phone says it will refresh every 6 s, and never does.
    const anna = await startSippUas({ scenario: 'desk-phone-session-timer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { se: '6;refresher=uas' }, timeoutMs: 60_000 });
    try {
      const caller = callerArgs(cc, token);
      const customer = await runSipp({ scenario: 'customer-call-timer', remote: env.remote, service: 'agent', vars: { ...caller.vars, se: '1800' }, extraArgs: caller.extraArgs, timeoutMs: 50_000 });
      assert.ok(received(customer, /^BYE /));
      const a = await anna.done;
      assert.equal(allReceived(a, /^INVITE /).length, 1);
      assert.match(received(a, /^BYE /), /^Reason: .*Session timer expired/im);
    } finally {
      await anna.stop();
    }
    await waitFor('the call recorded as failed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'failed');
    await allAvailable();
  });

  it("ends the call on both sides when the customer's app does not refresh the session in time", async function () {
    // The customer leg is answered by this server (the UAS), and drachtio-server runs no UAS
    // timer below RFC 4028's 90 s floor: this test waits for that interval, once.
    this.timeout(180_000);
    const { env, deps, cc, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5008');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 150_000 });
    try {
      const caller = callerArgs(cc, token);
      // The app says it will refresh every 90 s (refresher=uac), and never does.
      const customer = await runSipp({ scenario: 'customer-call-timer', remote: env.remote, service: 'agent', vars: { ...caller.vars, se: '90;refresher=uac' }, extraArgs: caller.extraArgs, timeoutMs: 140_000 });
      const answer = received(customer, /^SIP\/2\.0 200/);
      assert.match(answer, /^Session-Expires: 90;refresher=uac/im);
      assert.match(received(customer, /^BYE /), /^Reason: .*Session timer expired/im);
      const a = await anna.done;
      assert.ok(received(a, /^BYE /), "the agent's phone is hung up too");
    } finally {
      await anna.stop();
    }
    await waitFor('the call recorded as failed', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]?.outcome === 'failed');
    await waitFor('the session to be revoked', async () => {
      const record = (await deps.store.callRecords.list({ callRequestId: requestId }))[0]!;
      return (await deps.store.sessions.get(record.sessionId!))!.revokedAt !== null;
    });
    await allAvailable();
  });

  it('keeps the customer on hold when the agent hangs up during a blind transfer; the next agent answers and is verified', async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5005');
    const anna = await startSippUas({ scenario: 'agent-blind-transfer-hangup', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002', talk_ms: '1000' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer-late', localPort: phonePort['1002'], calls: 1, rtpEcho: true, vars: { ring_ms: '1500' } });
    try {
      const caller = callerArgs(cc, token);
      // The customer's scenario fails if it is hung up before it hangs up itself.
      await runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '7000' }, extraArgs: caller.extraArgs, timeoutMs: 40_000 });
      await anna.done;
      const b = await ben.done;
      assert.match(received(b, /^INVITE /), /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
      assert.equal(records.find((r) => r.agentId === cc.agents.ben!.id)!.verification, 'session');
    } finally {
      await anna.stop();
      await ben.stop();
    }
    await allAvailable();
  });

  it('sends the customer to the queue when the agent hung up and the transfer target does not answer', async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-5006');
    const anna = await startSippUas({ scenario: 'agent-blind-transfer-hangup', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002', talk_ms: '1000' } });
    const ben = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1002'], calls: 1 });
    const carl = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1003'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '12000' }, extraArgs: caller.extraArgs, timeoutMs: 40_000 });
      await anna.done;
      await ben.done;
      const c = await carl.done;
      assert.match(received(c, /^INVITE /), /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
      const carlRecord = records.find((r) => r.agentId === cc.agents.carl!.id)!;
      assert.equal(carlRecord.verification, 'session');
      assert.ok(!records.some((r) => r.agentId === cc.agents.ben!.id), 'Ben never took the call');
      await waitFor("Carl's part to end as completed", async () => (await deps.store.callRecords.list({ callRequestId: requestId })).find((r) => r.id === carlRecord.id)!.outcome === 'completed');
    } finally {
      await anna.stop();
      await ben.stop();
      await carl.stop();
    }
    await allAvailable();
  });
});
