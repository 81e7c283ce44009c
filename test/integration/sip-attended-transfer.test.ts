/**
 * Attended transfer (REFER with Replaces, RFC 5589 §7) from the agent's desk phone, on real
 * servers: Anna holds the customer, calls Ben from her desk phone through the B2BUA, then refers
 * the customer to Ben naming that consultation call in Replaces. Ben's phone is moved onto a
 * FreeSWITCH channel bridged to the customer, told the customer is verified through the session;
 * Anna's two dialogs are ended. A Replaces naming no call gets a 481 NOTIFY and the customer
 * stays with Anna. Semi-attended: Anna refers while Ben's phone still rings; that ringing ends
 * (487 to Anna's consultation, CANCEL to Ben) and the customer is transferred to Ben as a blind
 * transfer would do it, back to Anna when Ben does not answer.
 */
import assert from 'node:assert/strict';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, allReceived, assertToldVerifiedThroughSession, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import { freePort } from '../support/drachtio-server.js';
import { runSipp, startSippUas, type SippResult } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('attended transfer between agents (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben] });

  /** The Call-ID of the agent leg the server placed to Anna's phone (line 1 knows it; line 2 is told). */
  async function annaLegCallId(requestId: string): Promise<string> {
    const { deps, cc, env } = center();
    const record = await waitFor('the customer connected to Anna', async () =>
      (await deps.store.callRecords.list({ callRequestId: requestId })).find((r) => r.agentId === cc.agents.anna!.id && r.sessionId),
    );
    const call = env.svc.service.customerCalls!.calls.get(record.sessionId!);
    return call!.agent!.dialog.sip.callId;
  }

  /** Line 1 has put the customer on hold (FreeSWITCH holds Anna's channel): a phone consults after that. */
  async function customerOnHold(): Promise<void> {
    const { fs } = center();
    await waitFor("Anna's FreeSWITCH channel on hold", async () => {
      const parsed = JSON.parse(await fs.api('show channels as json')) as { rows?: Array<{ callstate: string }> };
      return (parsed.rows ?? []).some((r) => r.callstate === 'HELD');
    });
  }

  /**
   * Anna's second line calls Ben (digest-authenticated), then tells line 1 which call to replace:
   * once Ben answered (agent-consultation-call), or while Ben's phone rings (agent-consultation-ringing).
   */
  async function consultBen(line1CallId: string, scenario = 'agent-consultation-call'): Promise<SippResult> {
    const { env, phonePort } = center();
    return runSipp({
      scenario,
      remote: env.remote,
      localPort: await freePort({ udp: true }),
      timeoutMs: 40_000,
      vars: { user: '1001', dialled: '1002', line1_port: String(phonePort['1001']), line1_call_id: line1CallId, srv_port: env.remote.split(':')[1]! },
      extraArgs: ['-au', '1001', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `1002@${env.remote}`, '-cid_str', `consult-%u-%p`],
    });
  }

  /** The verified customer's app calls in and talks for `talkMs` (sipp, RTP from the pcap). */
  function customerCalls(token: string, talkMs: number, timeoutMs = 60_000): Promise<SippResult> {
    const { env, cc, pcap } = center();
    const caller = callerArgs(cc, token);
    return runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: String(talkMs) }, extraArgs: caller.extraArgs, timeoutMs });
  }

  /**
   * After the transfer: Anna's part of the call is recorded as transferred, Ben's as verified
   * through the session and then completed, the transfer audited as `how`, both agents free and
   * no FreeSWITCH channel left.
   */
  async function transferredToBenThroughSession(requestId: string, sessionId: string, how: RegExp): Promise<void> {
    const { deps, cc, fs } = center();
    const records = await deps.store.callRecords.list({ callRequestId: requestId });
    assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
    const benRecord = records.find((r) => r.agentId === cc.agents.ben!.id)!;
    assert.equal(benRecord.verification, 'session');
    assert.equal(benRecord.sessionId, sessionId);
    await waitFor("Ben's part to end as completed", async () => (await deps.store.callRecords.list({ callRequestId: requestId })).find((r) => r.id === benRecord.id)!.outcome === 'completed');
    const audit = await deps.store.audit.list({ subject: `session:${sessionId}` });
    assert.ok(audit.some((e) => e.action === 'call.transfer' && how.test(e.reason)));
    await waitFor('both agents available again', async () =>
      (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
    );
    await waitFor('no FreeSWITCH channel left', async () => (await fsChannels(fs)).length === 0);
  }

  it('moves the customer to the agent Anna consulted, verified through the session, and ends both of her calls', async () => {
    const { env, deps, cc, fs, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4001');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer-moved', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const customer = customerCalls(token, 12000);

      // Anna's second line calls Ben while the customer is on hold, then tells line 1 which call to replace.
      const line1CallId = await annaLegCallId(requestId);
      const consultation = consultBen(line1CallId);

      // Line 1: REFER accepted, progress reported, the transfer ended with 200 and a BYE.
      const first = await annaLine1.done;
      assert.ok(received(first, /^SIP\/2\.0 202/));
      const notifies = allReceived(first, /^NOTIFY /);
      assert.match(notifies.at(-1)!, /SIP\/2\.0 200 OK/);
      assert.match(notifies.at(-1)!, /^Subscription-State: terminated/im);
      const sessionId = /^Session-ID: ([0-9a-f]{32})/im.exec(received(first, /^INVITE /))![1]!;
      // Line 2: the consultation was hung up by the server.
      const second = await consultation;
      assert.ok(received(second, /^BYE /));

      // The customer now talks to Ben through FreeSWITCH: two channels, audio both ways.
      await waitFor('the customer bridged to Ben', async () => (await deps.store.callRecords.list({ callRequestId: requestId })).some((r) => r.agentId === cc.agents.ben!.id));
      const counters = await waitFor('RTP both ways between the customer and Ben', async () => {
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 25)) ? c : null;
      });
      console.log(`      after the attended transfer, RTP in/out per FreeSWITCH channel: ${counters.map((c) => `${c!.inPackets}/${c!.outPackets}`).join(', ')}`);
      // Ben stays busy (now with the customer); Anna is free.
      assert.equal((await deps.store.agents.get(cc.agents.ben!.id))!.availability, 'busy');
      assert.equal((await deps.store.agents.get(cc.agents.anna!.id))!.availability, 'available');

      await customer;
      const benResult = await ben.done;
      const invites = allReceived(benResult, /^INVITE /);
      assert.equal(invites.length, 2, 'the consultation INVITE, then the re-INVITE moving Ben to the customer');
      const moved = invites[1]!;
      assert.match(moved, /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      assert.match(moved, new RegExp(`^Session-ID: ${sessionId};`, 'im'));
      assert.doesNotMatch(moved, /Authorization|Bearer|Knock-Device-Proof/i);

      await transferredToBenThroughSession(requestId, sessionId, /attended/);
    } finally {
      await annaLine1.stop();
      await ben.stop();
    }
  });

  it('completes the attended transfer when Anna hangs up right after referring', async () => {
    const { env, deps, cc, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4003');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer-hangup', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer-moved', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      // The customer's scenario fails if the customer is hung up before hanging up.
      const customer = customerCalls(token, 10000);
      const line1CallId = await annaLegCallId(requestId);
      const consultation = consultBen(line1CallId);
      await annaLine1.done;
      await consultation;
      await customer;
      const benResult = await ben.done;
      assert.match(allReceived(benResult, /^INVITE /)[1]!, /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
      assert.equal(records.find((r) => r.agentId === cc.agents.ben!.id)!.verification, 'session');
      await waitFor('both agents available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
    } finally {
      await annaLine1.stop();
      await ben.stop();
    }
  });

  it('answers a Replaces that names no call with a 481 NOTIFY; the customer stays with Anna', async () => {
    const { env, deps, cc, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4002');
    const anna = await startSippUas({ scenario: 'agent-attended-transfer-unknown', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    try {
      await customerCalls(token, 4000, 30_000);
      const r = await anna.done;
      assert.ok(received(r, /^SIP\/2\.0 202/));
      const last = allReceived(r, /^NOTIFY /).at(-1)!;
      assert.match(last, /SIP\/2\.0 481/);
      assert.match(last, /^Subscription-State: terminated/im);
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.length, 1);
      await waitFor('the call to end as completed with Anna', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]!.outcome === 'completed');
    } finally {
      await anna.stop();
    }
  });

  it('semi-attended: Anna refers while Ben still rings; the ringing ends and Ben is rung again with the verified customer', async () => {
    const { env, deps, cc, fs, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4004');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    // Ben's phone rings for the consultation (never answered) and answers the customer's INVITE.
    const ben = await startSippUas({ scenario: 'desk-phone-consulted', localPort: phonePort['1002'], calls: 2, rtpEcho: true });
    try {
      const customer = customerCalls(token, 12000);
      const line1CallId = await annaLegCallId(requestId);
      await customerOnHold();
      // The scenario insists on the 487 ending the ringing consultation (and ACKs it).
      const consultation = consultBen(line1CallId, 'agent-consultation-ringing');

      const first = await annaLine1.done;
      assert.ok(received(first, /^SIP\/2\.0 202/));
      const last = allReceived(first, /^NOTIFY /).at(-1)!;
      assert.match(last, /SIP\/2\.0 200 OK/);
      assert.match(last, /^Subscription-State: terminated/im);
      assert.ok(received(first, /^BYE /), 'Anna is hung up as after a blind transfer');
      const sessionId = /^Session-ID: ([0-9a-f]{32})/im.exec(received(first, /^INVITE /))![1]!;
      const second = await consultation;
      assert.match(received(second, /^SIP\/2\.0 487/), /487 Request Terminated/);

      await waitFor('the customer bridged to Ben', async () => (await deps.store.callRecords.list({ callRequestId: requestId })).some((r) => r.agentId === cc.agents.ben!.id));
      await waitFor('RTP both ways between the customer and Ben', async () => {
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 25));
      });

      await customer;
      const benResult = await ben.done;
      const invites = allReceived(benResult, /^INVITE /);
      assert.equal(invites.length, 2, 'the consultation, then the customer');
      assert.match(invites[0]!, /^From: "Anna Agent"/im);
      assert.doesNotMatch(invites[0]!, /X-Knock-Verified/i);
      assert.ok(received(benResult, /^CANCEL /), "the consultation's ringing was CANCELled");
      assertToldVerifiedThroughSession(invites[1]!, sessionId);
      assert.match(invites[1]!, new RegExp(`^Call-Info: <[^>]*/console/#/requests/${requestId}>`, 'im'));
      assert.match(invites[1]!, /^X-Knock-Reference: CASE-4004/im);

      await transferredToBenThroughSession(requestId, sessionId, /semi-attended/);
    } finally {
      await annaLine1.stop();
      await ben.stop();
    }
  });

  it('semi-attended: when Ben does not answer the customer either, the customer goes back to Anna as after a failed blind transfer', async () => {
    const { env, deps, cc, fs, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4005');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    const ben = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1002'], calls: 2 });
    try {
      // The customer's scenario fails if the customer is hung up before hanging up.
      const customer = customerCalls(token, 12000);
      const line1CallId = await annaLegCallId(requestId);
      await customerOnHold();
      await consultBen(line1CallId, 'agent-consultation-ringing');

      const benResult = await ben.done;
      const invites = allReceived(benResult, /^INVITE /);
      assert.equal(invites.length, 2, 'the consultation, then the customer');
      assert.match(invites[1]!, /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
      // Back with Anna: two FreeSWITCH channels bridged again, Anna busy, Ben free.
      await waitFor('the customer back with Anna', async () => (await fsChannels(fs)).length === 2 && (await deps.store.agents.get(cc.agents.ben!.id))!.availability === 'available');
      assert.equal((await deps.store.agents.get(cc.agents.anna!.id))!.availability, 'busy');

      await customer;
      const first = await annaLine1.done;
      const last = allReceived(first, /^NOTIFY /).at(-1)!;
      assert.match(last, /SIP\/2\.0 480/);
      assert.match(last, /^Subscription-State: terminated/im);
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.length, 1, 'the call never left Anna');
      await waitFor('the call to end as completed with Anna', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]!.outcome === 'completed');
      const offers = (await deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'call.offer');
      assert.ok(offers.some((e) => (e.data as { agentId?: string }).agentId === cc.agents.ben!.id), "Ben's unanswered ring is on the record");
      await waitFor('both agents available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
    } finally {
      await annaLine1.stop();
      await ben.stop();
    }
  });
});
