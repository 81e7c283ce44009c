/**
 * A scheduled callback in "agent calls" mode, placed for real: the job runner fires at the
 * chosen time, the reserved agent's desk phone rings first, then the customer's app endpoint
 * (the device's SIP contact). The app must answer with a verified INVITE (sip-callback-to-app
 * test); one that answers the ringing INVITE itself is hung up. An agent who does not answer
 * sends the callback back to the retry policy.
 */
import assert from 'node:assert/strict';
import { freePort } from '../support/drachtio-server.js';
import { AGENTS, received, useCallCenter } from '../support/call-center.js';
import { startSippUas, type SippResult } from '../support/sipp.js';
import { scheduledCallbackSoon } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

/** When sipp logged the message (from its trace separator line). */
function receivedAt(r: SippResult, startLine: RegExp): number {
  const entries = r.messages.split(/\n(?=-{20,})/);
  const hit = entries.find((m) => /message received/.test(m) && startLine.test(m.split('\n').find((l) => /^(SIP\/2\.0 |[A-Z]+ sips?:)/.test(l)) ?? ''));
  const stamp = hit ? /-{20,}\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)/.exec(hit)?.[1] : undefined;
  if (!stamp) throw new Error(`no received message matching ${startLine}`);
  return new Date(`${stamp.replace(' ', 'T')}Z`).getTime();
}

describe('scheduled callbacks placed by the server (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna], callbackMode: 'agent_calls' });
  let appPort: number;

  before(async function () {
    // The customer's app has registered for calls on this address.
    appPort = await freePort({ udp: true });
    const { deps, cc } = center();
    await deps.store.devices.setSipContact(cc.deviceId, `sip:app@127.0.0.1:${appPort}`);
  });

  const scheduleCallback = (reference: string) => scheduledCallbackSoon(center().env.svc, center().cc, reference);

  it('rings the reserved agent first, then the customer app; an app answering the ring itself (unverified) is hung up', async () => {
    const { deps, cc, env, phonePort } = center();
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true });
    const app = await startSippUas({ scenario: 'app-answers-ring-unverified', localPort: appPort, calls: 1 });
    try {
      const requestId = await scheduleCallback('CASE-4001');
      const customer = await app.done;
      const desk = await anna.done;

      const agentInvite = received(desk, /^INVITE /);
      assert.match(agentInvite, /^X-Knock-Reference: CASE-4001/im);
      assert.match(agentInvite, /^X-Knock-Callback: scheduled; for=/im);
      assert.match(agentInvite, /^X-Knock-Verified: no/im);
      assert.match(agentInvite, /^P-Asserted-Identity: "Chris Customer"/im);
      const appInvite = received(customer, /^INVITE /);
      assert.match(appInvite, /^X-Knock-Reference: CASE-4001/im);
      assert.match(appInvite, /^X-Knock-Agent: Anna Agent/im);
      assert.match(appInvite, new RegExp(`^X-Knock-Request: ${requestId}`, 'im'));
      // Agent leg first, then the customer.
      assert.ok(receivedAt(desk, /^INVITE /) <= receivedAt(customer, /^INVITE /));
      // A 200 OK to the ringing INVITE carries no token or proof: hung up, never bridged.
      assert.match(received(customer, /^BYE /), /^Reason: SIP;cause=403/im);

      const retried = await waitFor('the callback to go back to the retry policy', async () => {
        const r = await deps.store.callRequests.get(requestId);
        return r && r.state === 'scheduled' && r.attempts === 1 ? r : null;
      });
      assert.equal(retried.outcome, 'failed');
      // Recorded from the moment the agent was on hold; never answered by a verified customer.
      const records = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.deepEqual(records.map((r) => [r.outcome, r.answeredAt, r.endedAt !== null]), [['failed', null, true]]);
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      const cancelled = await env.svc.call('POST', `/api/v1/call-requests/${requestId}/cancel`, { token: cc.consoleTokens.anna! });
      assert.equal(cancelled.status, 200, cancelled.text);
    } finally {
      await anna.stop();
      await app.stop();
    }
  });

  it('sends the callback back to the retry policy when the agent does not answer', async () => {
    const { deps, cc, phonePort } = center();
    const anna = await startSippUas({ scenario: 'agent-no-answer', localPort: phonePort['1001'], calls: 1 });
    try {
      const requestId = await scheduleCallback('CASE-4002');
      await anna.done;
      const retried = await waitFor('the callback to be rescheduled', async () => {
        const r = await deps.store.callRequests.get(requestId);
        return r && r.state === 'scheduled' && r.attempts === 1 ? r : null;
      });
      assert.equal(retried.outcome, 'no_answer');
      const spacing = deps.config.scheduling.retry.spacingMinutes * 60_000;
      assert.ok(Math.abs(retried.scheduledFor!.getTime() - Date.now() - spacing) < 60_000);
      await waitFor('anna to be available again', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      assert.equal((await deps.store.callRecords.list({ callRequestId: requestId })).length, 0);
    } finally {
      await anna.stop();
    }
  });
});
