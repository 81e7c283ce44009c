/**
 * Blind transfer by REFER from the agent's desk phone, on real servers: the customer stays in
 * their call, is re-bridged in FreeSWITCH to the second agent, and the second agent's phone is
 * told the customer is verified through the session id — no new authentication. Hang-up
 * revokes the session.
 */
import assert from 'node:assert/strict';
import { verifySessionForTransfer } from '../../src/flows/call-session.js';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, allReceived, assertToldVerifiedThroughSession, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('blind transfer between agents (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben] });

  it('re-bridges the customer to the second agent, who is told the customer is verified through the session', async () => {
    const { env, deps, cc, fs, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-3001');
    const anna = await startSippUas({ scenario: 'agent-blind-transfer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002', talk_ms: '1500' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '8000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });

      // Anna transferred and was hung up; the REFER was followed by progress reports.
      const first = await anna.done;
      assert.ok(received(first, /^SIP\/2\.0 202/));
      const notifies = allReceived(first, /^NOTIFY /);
      assert.match(notifies.at(-1)!, /SIP\/2\.0 200 OK/);
      assert.match(notifies.at(-1)!, /^Subscription-State: terminated/im);
      const sessionId = /^Session-ID: ([0-9a-f]{32})/im.exec(received(first, /^INVITE /))![1]!;

      // While the customer talks to Ben: one customer channel and Ben's, media flowing.
      await waitFor('the customer bridged to Ben', async () => {
        const records = await deps.store.callRecords.list({ callRequestId: requestId });
        return records.some((r) => r.agentId === cc.agents.ben!.id) ? records : null;
      });
      const counters = await waitFor('RTP both ways between the customer and Ben', async () => {
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 25)) ? c : null;
      });
      console.log(`      after the transfer, RTP in/out per FreeSWITCH channel: ${counters.map((c) => `${c!.inPackets}/${c!.outPackets}`).join(', ')}`);

      await customer;
      const second = await ben.done;
      const invite = received(second, /^INVITE /);
      assertToldVerifiedThroughSession(invite, sessionId);

      // One record per agent: Anna's closed as transferred, Ben's verified by the session.
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      const annaRecord = records.find((r) => r.agentId === cc.agents.anna!.id)!;
      const benRecord = records.find((r) => r.agentId === cc.agents.ben!.id)!;
      assert.equal(annaRecord.outcome, 'transferred');
      assert.equal(annaRecord.verification, 'token:biometric');
      assert.equal(benRecord.verification, 'session');
      assert.equal(benRecord.sessionId, sessionId);
      await waitFor('the call to end on the record', async () => (await deps.store.callRecords.list({ callRequestId: requestId })).find((r) => r.id === benRecord.id)!.outcome === 'completed');
      const audit = await deps.store.audit.list({ subject: `session:${sessionId}` });
      assert.ok(audit.some((e) => e.action === 'session.verify' && e.decision === 'allow'));
      assert.ok(audit.some((e) => e.action === 'call.transfer' && e.decision === 'allow'));

      // The session died with the call: nothing can use it again.
      await waitFor('the session to be revoked', async () => (await deps.store.sessions.get(sessionId))!.revokedAt !== null);
      await assert.rejects(verifySessionForTransfer(deps, sessionId, cc.agents.anna!.id), { code: 'session_revoked' });
      await waitFor('both agents to be available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });

  it('takes one transfer at a time: of two REFERs sent back to back, one is accepted and the other gets 491', async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-3002');
    const anna = await startSippUas({ scenario: 'agent-double-refer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002', talk_ms: '1500' } });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '7000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });

      // The scenario itself insists on one 202 and one 491; the transfer then completes once.
      const first = await anna.done;
      assert.equal(allReceived(first, /^SIP\/2\.0 202/).length, 1);
      assert.equal(allReceived(first, /^SIP\/2\.0 491/).length, 1);
      await waitFor('the customer bridged to Ben', async () => (await deps.store.callRecords.list({ callRequestId: requestId })).some((r) => r.agentId === cc.agents.ben!.id));
      await customer;
      const second = await ben.done;
      assert.equal(allReceived(second, /^INVITE /).length, 1, 'Ben was rung once');
      await waitFor('both agents to be available again', async () =>
        (await Promise.all([cc.agents.anna!, cc.agents.ben!].map((a) => deps.store.agents.get(a.id)))).every((a) => a!.availability === 'available'),
      );
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });
});
