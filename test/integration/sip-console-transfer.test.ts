/**
 * A transfer asked for through the API (the console's transfer control) on real servers: the
 * request goes to the instance holding the call (here the same one), which has the SIP side ring the next agent of the
 * group with the customer marked verified through the session, the customer is re-bridged in
 * FreeSWITCH and the first agent's leg gets BYE. Refusals: an unknown agent, a call that has
 * ended, and a job whose call is gone ends with a reason instead of being retried. A target who
 * does not answer leaves the customer with the first agent; each console gets one call.ended.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import type { LiveEvent } from '../../src/flows/ports.js';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, assertToldVerifiedThroughSession, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

type Of<T extends LiveEvent['type']> = Extract<LiveEvent, { type: T }>;

describe('transfer from the console as a job (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben] });
  const events: LiveEvent[] = [];
  let unsubscribe: () => void = () => undefined;

  before(function () {
    unsubscribe = center().deps.events.subscribe((e) => void events.push(e));
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log(center().env.svc.logs.filter((l) => /"level":(40|50|60)|customer-call|agent-leg/.test(l)).slice(-40).join(''));
    }
  });

  after(function () {
    unsubscribe();
  });

  /** The outcomes of the call.ended events one agent's console got for one request, in order. */
  function callEnded(requestId: string, agentId: string): string[] {
    return events.filter((e): e is Of<'call.ended'> => e.type === 'call.ended' && e.requestId === requestId && e.agentId === agentId).map((e) => e.outcome);
  }

  async function transferJobs(): Promise<number> {
    const pool = new pg.Pool({ connectionString: center().env.svc.db.url, max: 1 });
    try {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM agenda_jobs WHERE name = 'call.transfer'`);
      return rows[0].n as number;
    } finally {
      await pool.end();
    }
  }

  it('moves the verified call to the group\'s next agent: rung with via=session, re-bridged, first agent hung up, audited', async () => {
    const { env, deps, cc, fs, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-6001');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '14000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });

      // The console's call screen: ringing, then connected, with the verified customer.
      const connected = await waitFor('the call connected to Anna', () =>
        events.find((e): e is Of<'call.connected'> => e.type === 'call.connected' && e.requestId === requestId && e.agentId === cc.agents.anna!.id),
      );
      assert.ok(events.some((e) => e.type === 'call.ringing' && e.requestId === requestId && e.agentId === cc.agents.anna!.id));
      assert.equal(connected.customerName, 'Chris Customer');
      assert.equal(connected.reference, 'CASE-6001');
      assert.equal(connected.verification?.method, 'biometric');
      assert.equal(connected.verification?.via, 'token');
      assert.ok(!JSON.stringify(connected).includes(token), 'the token is not on the live channel');

      // Anna asks, from the console, for the group: Ben is the one free.
      const asked = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/transfer`, { token: cc.consoleTokens.anna!, body: { toGroup: 'support' } });
      assert.equal(asked.status, 202, asked.text);
      assert.equal(asked.body.state, 'requested');
      const transferId = asked.body.transferId as string;

      // Anna's leg is hung up once Ben has answered.
      const first = await anna.done;
      assert.ok(received(first, /^BYE /));
      const sessionId = /^Session-ID: ([0-9a-f]{32})/im.exec(received(first, /^INVITE /))![1]!;

      const counters = await waitFor('RTP both ways between the customer and Ben', async () => {
        const records = await deps.store.callRecords.list({ callRequestId: requestId });
        if (!records.some((r) => r.agentId === cc.agents.ben!.id)) return null;
        const channels = await fsChannels(fs);
        if (channels.length !== 2) return null;
        const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
        return c.every((x) => carriesAudio(x, 25)) ? c : null;
      });
      console.log(`      after the console transfer, RTP in/out per FreeSWITCH channel: ${counters.map((c) => `${c!.inPackets}/${c!.outPackets}`).join(', ')}`);

      // The same group transfer run again (an at-least-once re-run) finds the call with an agent
      // of the group and counts as done: no failure, no deny in the audit.
      await env.svc.service.scheduler.scheduleTransfer({
        transferId: 'rerun',
        requestId,
        sessionId,
        fromAgentId: cc.agents.anna!.id,
        toAgentId: null,
        toGroup: 'support',
        requestedBy: 'test',
        requestedAt: new Date().toISOString(),
      });
      await waitFor('the re-run to finish', async () => (await transferJobs()) === 0);
      assert.ok(!events.some((e) => e.type === 'transfer.changed' && e.transferId === 'rerun'), 'the re-run reports nothing');

      await customer;
      const second = await ben.done;
      const invite = received(second, /^INVITE /);
      assertToldVerifiedThroughSession(invite, sessionId);

      // Progress on the live channel, in order; the screens follow the customer.
      const progress = events.filter((e): e is Of<'transfer.changed'> => e.type === 'transfer.changed' && e.transferId === transferId);
      assert.deepEqual(progress.map((e) => e.state), ['requested', 'ringing', 'completed']);
      assert.equal(progress[1]!.toAgentId, cc.agents.ben!.id);
      assert.equal(progress[2]!.reason, 'transferred to Ben Agent');
      const benScreen = events.find((e): e is Of<'call.connected'> => e.type === 'call.connected' && e.agentId === cc.agents.ben!.id && e.requestId === requestId);
      assert.equal(benScreen?.verification?.via, 'session');
      assert.ok(events.some((e) => e.type === 'call.ended' && e.agentId === cc.agents.anna!.id && e.outcome === 'transferred'));

      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.find((r) => r.agentId === cc.agents.anna!.id)!.outcome, 'transferred');
      assert.equal(records.find((r) => r.agentId === cc.agents.ben!.id)!.verification, 'session');

      const requestAudit = await deps.store.audit.list({ subject: `call_request:${requestId}` });
      const scheduled = requestAudit.find((e) => e.action === 'call.transfer.request');
      assert.equal(scheduled?.decision, 'allow');
      assert.equal(scheduled?.actor, `agent:${cc.agents.anna!.id}`);
      const done = requestAudit.find((e) => e.action === 'call.transfer.console');
      assert.equal(done?.decision, 'allow');
      assert.equal(done?.actor, 'command:call.transfer');
      const sessionAudit = await deps.store.audit.list({ subject: `session:${sessionId}` });
      assert.ok(sessionAudit.some((e) => e.action === 'session.verify' && e.decision === 'allow'));
      assert.ok(sessionAudit.some((e) => e.action === 'call.transfer' && e.decision === 'allow' && /console transfer/.test(e.reason)));
      // The job ran once and is gone.
      assert.equal(await transferJobs(), 0);

      // After the call: the session is revoked and another transfer has nothing to move.
      await waitFor('the session to be revoked', async () => (await deps.store.sessions.get(sessionId))!.revokedAt !== null);
      // Each screen closes once: Anna's when the call left her, Ben's when it ended.
      await waitFor("Ben's call screen to close", () => events.some((e) => e.type === 'call.ended' && e.requestId === requestId && e.agentId === cc.agents.ben!.id));
      assert.deepEqual(callEnded(requestId, cc.agents.ben!.id), ['completed']);
      assert.deepEqual(callEnded(requestId, cc.agents.anna!.id), ['transferred']);
      assert.equal(events.filter((e) => e.type === 'call.ringing' && e.requestId === requestId && e.agentId === cc.agents.ben!.id).length, 1);
      const late = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/transfer`, { token: cc.consoleTokens.ben!, body: { toAgentId: cc.agents.anna!.id } });
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'conflict');

      // A job for the ended call (one that was already queued, say) ends with a reason, once.
      const jobId = await env.svc.service.scheduler.scheduleTransfer({
        transferId: 'late-transfer',
        requestId,
        sessionId,
        fromAgentId: cc.agents.ben!.id,
        toAgentId: cc.agents.anna!.id,
        toGroup: null,
        requestedBy: 'test',
        requestedAt: new Date().toISOString(),
      });
      assert.ok(jobId);
      const failed = await waitFor('the late job to fail', () =>
        events.find((e): e is Of<'transfer.changed'> => e.type === 'transfer.changed' && e.transferId === 'late-transfer' && e.state === 'failed'),
      );
      assert.equal(failed.reason, 'the call has ended');
      await waitFor('the job to be gone', async () => (await transferJobs()) === 0);
      const failures = (await deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'call.transfer.console' && e.decision === 'deny');
      assert.equal(failures.length, 1);
      assert.match(failures[0]!.reason, /the call has ended/);
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });

  it('refuses a transfer to an unknown agent with problem details and schedules nothing', async () => {
    const { env, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-6002');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '3000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await waitFor('the call connected to Anna', () => events.some((e) => e.type === 'call.connected' && e.requestId === requestId));

      const unknown = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/transfer`, {
        token: cc.consoleTokens.anna!,
        body: { toAgentId: '00000000-0000-4000-8000-000000000000' },
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'not_found');
      assert.match(unknown.body.detail, /No agent/);
      const self = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/transfer`, { token: cc.consoleTokens.anna!, body: { toAgentId: cc.agents.anna!.id } });
      assert.equal(self.status, 400);
      assert.match(self.body.detail, /already on this call/);
      assert.equal(await transferJobs(), 0);
      const denied = (await center().deps.store.audit.list({ subject: `call_request:${requestId}` })).filter((e) => e.action === 'call.transfer.request');
      assert.deepEqual(denied.map((e) => e.decision), ['deny', 'deny']);

      await customer;
      await anna.done;
    } finally {
      await anna.stop();
    }
  });

  it("closes the target's call screen once when the target does not answer; the customer stays with the first agent", async () => {
    const { env, deps, cc, phonePort, pcap } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-6003');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    const ben = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1002'], calls: 1 });
    try {
      const caller = callerArgs(cc, token);
      // The customer's scenario fails if the customer is hung up before hanging up.
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '9000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await waitFor('the call connected to Anna', () => events.some((e) => e.type === 'call.connected' && e.requestId === requestId && e.agentId === cc.agents.anna!.id));

      const asked = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/transfer`, { token: cc.consoleTokens.anna!, body: { toAgentId: cc.agents.ben!.id } });
      assert.equal(asked.status, 202, asked.text);
      const failed = await waitFor('the transfer to fail', () =>
        events.find((e): e is Of<'transfer.changed'> => e.type === 'transfer.changed' && e.transferId === asked.body.transferId && e.state === 'failed'),
      );
      assert.match(failed.reason, /^Ben Agent did not answer/);
      await ben.done;
      // Ben's console: the call rang, then its screen closed, once.
      assert.equal(events.filter((e) => e.type === 'call.ringing' && e.requestId === requestId && e.agentId === cc.agents.ben!.id).length, 1);
      assert.deepEqual(callEnded(requestId, cc.agents.ben!.id), ['no_answer']);

      await customer;
      await anna.done;
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(records.length, 1, 'the call never left Anna');
      await waitFor('the call to end as completed with Anna', async () => (await deps.store.callRecords.list({ callRequestId: requestId }))[0]!.outcome === 'completed');
      assert.deepEqual(callEnded(requestId, cc.agents.anna!.id), ['completed']);
      assert.deepEqual(callEnded(requestId, cc.agents.ben!.id), ['no_answer']);
    } finally {
      await anna.stop();
      await ben.stop();
    }
  });
});
