/**
 * Hostile INVITEs against a real drachtio-server: an INVITE whose From has no tag (and no
 * credentials) makes drachtio-server abort when the application answers it, whatever the answer.
 * Sent over UDP, TCP and WebSocket, it must leave drachtio-server running: the service still
 * connected, an open WebSocket flow still answered, desk phones still registering, and (with
 * FreeSWITCH) a connected customer call still up until its parties hang up.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createAgent } from '../../src/flows/directory.js';
import { AGENTS, sippMessages, useCallCenter } from '../support/call-center.js';
import { connectRawSipWebSocket, type RawSipWebSocket } from '../support/raw-sip-websocket.js';
import { sipSkipReason, startSipTestEnv, type SipTestEnv } from '../support/sip-test-env.js';
import { runSipp, SippError, startSippUas, type SippResult } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { callerArgs, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

const PASSWORD = 'desk-phone-secret-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The tagless INVITE over UDP or TCP (sipp): it must get no final response within 1.5 s. sipp
 * reports the wait running out as an error of its own, which is the expected outcome here; an
 * unexpected message or a closed connection fails.
 */
async function taglessInvite(remote: string, transport: 'udp' | 'tcp', service = '1001'): Promise<void> {
  let r: SippResult;
  try {
    r = await runSipp({ scenario: 'invite-no-from-tag', remote, service, timeoutMs: 8000, extraArgs: transport === 'tcp' ? ['-t', 't1'] : [] });
  } catch (e) {
    if (!(e instanceof SippError)) throw e;
    r = e.result;
  }
  // sipp CANCELs the INVITE when it gives up; drachtio-server itself answers that (200 to the
  // CANCEL, 487 to the INVITE, both statelessly, which is safe). Any other final is ours.
  const finals = sippMessages(r).filter((m) => /message received/.test(m) && /^SIP\/2\.0 (?!487)[2-6]\d\d/m.test(m) && /^CSeq: *\d+ INVITE/im.test(m));
  assert.deepEqual(finals, [], 'a final response was sent to the tagless INVITE');
  assert.doesNotMatch(r.errors, /unexpected message|connection closed|broken pipe|reset by peer/i, `sipp reported:\n${r.errors}`);
}

/** A request over a raw WebSocket, as bytes; `fromTag` null leaves the tag out. */
function wsRequest(method: 'INVITE' | 'OPTIONS', wsPort: number, fromTag: string | null): string {
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const from = `<sip:probe@knock.invalid>${fromTag ? `;tag=${fromTag}` : ''}`;
  const body = method === 'INVITE' ? 'v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n' : '';
  return [
    `${method} sip:1001@127.0.0.1:${wsPort};transport=ws SIP/2.0`,
    `Via: SIP/2.0/WS probe.invalid;branch=${branch}`,
    `From: ${from}`,
    `To: <sip:1001@127.0.0.1>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@probe.invalid`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:probe@probe.invalid;transport=ws>`,
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

const finalResponses = (ws: RawSipWebSocket) => ws.received.filter((m) => /^SIP\/2\.0 [2-6]\d\d/.test(m));

describe('SIP: an INVITE without a From tag (drachtio-server + sipp)', function () {
  this.timeout(60_000);
  let env: SipTestEnv;
  let flow: RawSipWebSocket;

  before(async function () {
    skipWhenMissing(this, sipSkipReason());
    env = await startSipTestEnv({}, { ws: true });
    await createAgent(env.svc.service.deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: PASSWORD, groups: [] });
    // A flow that must outlive the attack: an open WebSocket, as a registered app keeps one.
    flow = await connectRawSipWebSocket(env.drachtio.wsUrl!);
  });

  after(async () => {
    flow?.close();
    await env?.stop();
  });

  const register = () =>
    runSipp({ scenario: 'register-ok', remote: env.remote, timeoutMs: 10_000, vars: { user: '1001', expires: '600' }, extraArgs: ['-au', '1001', '-ap', PASSWORD] });

  /** drachtio-server still runs, the service is still connected, and SIP is still answered. */
  const assertStillServing = async () => {
    await sleep(500);
    assert.ok(!/Assertion .* failed/.test(env.drachtio.logs()), `drachtio-server aborted:\n${env.drachtio.logs().slice(-1500)}`);
    assert.equal(env.svc.service.sip!.isConnected(), true, 'the service lost drachtio-server');
    await runSipp({ scenario: 'options-ping', remote: env.remote, service: '1001', timeoutMs: 5000 });
    // The open WebSocket flow is still there and still answered.
    assert.equal(flow.closed(), false, 'the WebSocket flow was closed');
    const before = flow.received.length;
    flow.send(wsRequest('OPTIONS', env.drachtio.wsPort!, randomBytes(4).toString('hex')));
    await waitFor('an answer on the open WebSocket flow', () => flow.received.slice(before).some((m) => /^SIP\/2\.0 200/.test(m)), 5000);
    await env.svc.service.deps.store.registrations.removeAll('1001');
    await register();
    assert.equal((await env.svc.service.deps.store.registrations.list('1001', new Date())).length, 1);
  };

  it('over UDP: no answer at all, and drachtio-server keeps serving', async () => {
    await register();
    await taglessInvite(env.remote, 'udp');
    // To the customer call URI as well (the path that answers 401/503 to a tagged INVITE).
    await taglessInvite(env.remote, 'udp', 'agent');
    await assertStillServing();
    assert.ok(env.svc.logs.some((l) => l.includes('INVITE dropped without an answer')), 'the drop is logged');
  });

  it('over TCP: no answer at all, and drachtio-server keeps serving', async () => {
    await taglessInvite(env.remote, 'tcp');
    await taglessInvite(env.remote, 'tcp', 'agent');
    await assertStillServing();
  });

  it('over WebSocket: no answer at all, and drachtio-server keeps serving', async () => {
    const attacker = await connectRawSipWebSocket(env.drachtio.wsUrl!);
    try {
      attacker.send(wsRequest('INVITE', env.drachtio.wsPort!, null));
      await sleep(1500);
      assert.deepEqual(finalResponses(attacker), [], 'a final response was sent to the tagless INVITE');
    } finally {
      attacker.close();
    }
    await assertStillServing();
  });

  it('still answers the same INVITE with a tag (the guard is only for the tagless one)', async () => {
    const ws = await connectRawSipWebSocket(env.drachtio.wsUrl!);
    try {
      ws.send(wsRequest('INVITE', env.drachtio.wsPort!, randomBytes(4).toString('hex')));
      await waitFor('a final response', () => finalResponses(ws).length > 0, 5000);
      // No credentials: a desk phone INVITE gets the digest challenge.
      assert.match(finalResponses(ws)[0]!, /^SIP\/2\.0 401/);
    } finally {
      ws.close();
    }
  });
});

describe('SIP: a connected customer call survives tagless INVITEs (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna] });

  it('keeps the call up until the customer hangs up, while tagless INVITEs arrive over UDP and TCP', async () => {
    const { env, deps, cc, pcap, phonePort } = center();
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-9001');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      const caller = callerArgs(cc, token);
      const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '8000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await waitFor('the call to connect', async () => (await deps.store.callRequests.get(requestId))?.state === 'connected', 20_000);
      await taglessInvite(env.remote, 'udp');
      await taglessInvite(env.remote, 'tcp');
      // The customer hangs up after talking: the call ends normally, on a drachtio-server that never went away.
      await call;
      assert.equal(env.svc.service.sip!.isConnected(), true);
      const [record] = await waitFor('the call record to close', async () => {
        const list = await deps.store.callRecords.list({ callRequestId: requestId });
        return list[0]?.endedAt ? list : null;
      });
      assert.equal(record!.outcome, 'completed');
      await anna.done;
    } finally {
      await anna.stop();
    }
  });
});



