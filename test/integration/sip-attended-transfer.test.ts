/**
 * Attended transfer (REFER with Replaces, RFC 5589 §7) from the agent's desk phone, on real
 * servers: Anna holds the customer, calls Ben from her desk phone through the B2BUA, then refers
 * the customer to Ben naming that consultation call in Replaces. Ben's phone is moved onto a
 * FreeSWITCH channel bridged to the customer, told the customer is verified through the session;
 * Anna's two dialogs are ended. A Replaces naming no call gets a 481 NOTIFY and the customer
 * stays with Anna.
 */
import assert from 'node:assert/strict';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, allReceived, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
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

  /** Anna's second line calls Ben (digest-authenticated), then tells line 1 which call to replace. */
  async function consultBen(line1CallId: string): Promise<SippResult> {
    const { env, phonePort } = center();
    return runSipp({
      scenario: 'agent-consultation-call',
      remote: env.remote,
      localPort: await freePort({ udp: true }),
      timeoutMs: 40_000,
      vars: { user: '1001', dialled: '1002', line1_port: String(phonePort['1001']), line1_call_id: line1CallId, srv_port: env.remote.split(':')[1]! },
      extraArgs: ['-au', '1001', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `1002@${env.remote}`, '-cid_str', `consult-%u-%p`],
    });
  }

  it('moves the customer to the agent Anna consulted, verified through the session, and ends both of her calls', async () => {
    const { env, deps, cc, fs, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4001');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer-moved', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '12000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });

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

      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
      const benRecord = records.find((r) => r.agentId === cc.agents.ben!.id)!;
      assert.equal(benRecord.verification, 'session');
      assert.equal(benRecord.sessionId, sessionId);
      await waitFor("Ben's part to end as completed", async () => (await deps.store.callRecords.list({ callRequestId: requestId })).find((r) => r.id === benRecord.id)!.outcome === 'completed');
      const audit = await deps.store.audit.list({ subject: `session:${sessionId}` });
      assert.ok(audit.some((e) => e.action === 'call.transfer' && /attended/.test(e.reason)));
      await waitFor('both agents available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
      await waitFor('no FreeSWITCH channel left', async () => (await fsChannels(fs)).length === 0);
    } finally {
      await annaLine1.stop();
      await ben.stop();
    }
  });

  it('completes the attended transfer when Anna hangs up right after referring', async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4003');
    const annaLine1 = await startSippUas({ scenario: 'agent-attended-transfer-hangup', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer-moved', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      // The customer's scenario fails if the customer is hung up before hanging up.
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '10000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
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
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-4002');
    const anna = await startSippUas({ scenario: 'agent-attended-transfer-unknown', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002' } });
    try {
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '4000' }, extraArgs: caller.extraArgs, timeoutMs: 30_000 });
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
});
