/**
 * A routing reload under live calls, on real servers (drachtio-server, FreeSWITCH, sipp as the
 * customer's app and the desk phones): a verified customer call and a desk phone call routed by
 * the old file stay up through the reload and end normally; new calls route by the new file; a
 * broken file is refused (422, with positions) and the routing in force keeps routing; a call
 * still ringing during a reload overflows by the routing it started with.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rtpCounters } from '../../src/media/media-stats.js';
import { AGENTS, carriesAudio, fsChannels, useCallCenter } from '../support/call-center.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

const V1 = 'extensions:\n  "2000":\n    name: Old line\n    agent: ben\n';
const V2 = 'extensions:\n  "2200":\n    name: New line\n    agent: ben\n';
const BROKEN = `${V2}  "2300":\n    agent: carl\n    overflow: "2999"\n`;

describe('routing reload under live calls (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'knock-sip-routing-reload-'));
  const file = join(dir, 'routing.yaml');
  writeFileSync(file, V1);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben, AGENTS.carl], env: { KNOCK_SIP__ROUTING_FILE: file, KNOCK_SIP__AGENT_RING_SECONDS: '6' } });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const reload = () => center().env.svc.call('POST', '/api/v1/routing/reload', { token: center().cc.consoleTokens.anna });

  /** Carl's desk phone dials `dialled`: `desk-phone-call` talks for `talkMs` then hangs up; `feature-code` only reads the answer. */
  const carlDials = (dialled: string, scenario: 'desk-phone-call' | 'feature-code', talkMs = 300) =>
    runSipp({
      scenario,
      remote: center().env.remote,
      timeoutMs: 30_000,
      vars: { user: '1003', dialled },
      extraArgs: ['-au', '1003', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `${dialled}@${center().env.remote}`, '-d', String(talkMs)],
    });
  const finalStatus = (messages: string) => {
    const statuses = [...messages.matchAll(/^SIP\/2\.0 (\d{3})/gm)].map((m) => Number(m[1])).filter((s) => s >= 200 && s !== 401);
    return statuses[statuses.length - 1];
  };

  it('keeps a verified customer call and a desk phone call routed by the old file up through a reload; new calls use the new file', async () => {
    const { fs, env, deps, cc, pcap, phonePort } = center();
    const oldVersion = (await env.svc.call('GET', '/readyz')).body.routing.version;

    // A verified customer talking to anna, and carl's call to 2000 (ben, by the old file).
    const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-RELOAD');
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001']!, calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002']!, calls: 1, timeoutMs: 60_000 });
    try {
      const caller = callerArgs(cc, token);
      const customer = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '7000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      const deskCall = carlDials('2000', 'desk-phone-call', 7000);
      await waitFor(
        'the customer call to carry audio both ways',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return false;
          const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
          return c.every((x) => carriesAudio(x, 20));
        },
        20_000,
      );
      await waitFor('ben to be on carl\'s call', async () => (await deps.store.agents.get(cc.agents.ben!.id))!.availability === 'busy');

      writeFileSync(file, V2);
      const r = await reload();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.status, 'reloaded');
      assert.equal(r.body.previousVersion, oldVersion);
      assert.notEqual(r.body.active.version, oldVersion);
      assert.deepEqual(r.body.changes.extensions, { added: ['2200'], removed: ['2000'], changed: [] });
      assert.equal((await env.svc.call('GET', '/readyz')).body.routing.version, r.body.active.version);

      // Both calls run to their own hang-up: sipp fails on a BYE it did not send or an unanswered one.
      assert.equal((await fsChannels(fs)).length, 2, 'the customer call is still bridged after the reload');
      await customer;
      await deskCall;
      await anna.done;
      await ben.done;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.outcome, 'completed');
      const entry = (await deps.store.audit.list({ subject: `routing:${file}`, limit: 100 })).find((e) => e.action === 'routing.reload' && e.decision === 'allow');
      assert.equal(entry?.actor, `agent:${cc.agents.anna!.id}`);
      assert.match(entry!.reason, /numbers: 1 added \(2200\), 1 removed \(2000\)/);
    } finally {
      await anna.stop();
      await ben.stop();
    }

    // New calls: 2000 is gone, 2200 rings ben.
    await waitFor('ben to be free', async () => (await deps.store.agents.get(cc.agents.ben!.id))!.availability === 'available');
    assert.equal(finalStatus((await carlDials('2000', 'feature-code')).messages), 404);
    const benAgain = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002']!, calls: 1, timeoutMs: 30_000 });
    try {
      await carlDials('2200', 'desk-phone-call');
      await benAgain.done;
    } finally {
      await benAgain.stop();
    }
  });

  it('refuses a broken file with 422 and its positions; the routing in force keeps routing', async () => {
    const { env, deps, cc, phonePort } = center();
    const before = (await env.svc.call('GET', '/readyz')).body.routing.version;
    writeFileSync(file, BROKEN);
    const r = await reload();
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.code, 'routing_invalid');
    assert.deepEqual(r.body.problems, [`${file}:7:5: extensions.2300.overflow: no extension '2999' defined under extensions`]);
    assert.equal(r.body.active.version, before);
    assert.equal((await env.svc.call('GET', '/readyz')).body.routing.version, before);

    await waitFor('ben to be free', async () => (await deps.store.agents.get(cc.agents.ben!.id))!.availability === 'available');
    const ben = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1002']!, calls: 1, timeoutMs: 30_000 });
    try {
      await carlDials('2200', 'desk-phone-call');
      await ben.done;
    } finally {
      await ben.stop();
    }
    assert.equal(finalStatus((await carlDials('2300', 'feature-code')).messages), 404);
  });
  it('a call ringing when the routing changes keeps the routing it started with: its overflow still goes where the old file said', async () => {
    const { env, deps, cc, phonePort } = center();
    const OLD = 'extensions:\n  "2000":\n    agent: ben\n    overflow: "2100"\n  "2100":\n    agent: anna\n';
    const NEW = 'extensions:\n  "2000":\n    agent: ben\n';
    writeFileSync(file, OLD);
    assert.equal((await reload()).status, 200);
    for (const a of ['anna', 'ben']) await waitFor(`${a} to be free`, async () => (await deps.store.agents.get(cc.agents[a]!.id))!.availability === 'available');

    const dialledBefore = (await deps.store.audit.list({ subject: `agent:${cc.agents.carl!.id}`, limit: 1000 })).filter((e) => e.action === 'sip.invite.auth' && e.data.dialled === '2000').length;
    // Ben's phone rings and is not answered (sip.agentRingSeconds is 6 here); meanwhile 2100 goes.
    const ben = await startSippUas({ scenario: 'desk-phone-ring', localPort: phonePort['1002']!, calls: 1, timeoutMs: 30_000 });
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001']!, calls: 1, timeoutMs: 30_000 });
    try {
      const call = carlDials('2000', 'desk-phone-call');
      // Carl's INVITE is authenticated (audited) just before it is routed; ben's phone then rings 6 s.
      await waitFor('carl\'s call to 2000 to be routed', async () => (await deps.store.audit.list({ subject: `agent:${cc.agents.carl!.id}`, limit: 1000 })).filter((e) => e.action === 'sip.invite.auth' && e.data.dialled === '2000').length > dialledBefore);
      await new Promise((r) => setTimeout(r, 1_500));
      writeFileSync(file, NEW);
      const r = await reload();
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.changes.extensions, { added: [], removed: ['2100'], changed: ['2000'] });
      // The ringing call overflows to anna (2100) by the routing it started with, and connects.
      await call;
      await ben.done;
      await anna.done;
    } finally {
      await ben.stop();
      await anna.stop();
    }
    // A new call to 2000 has no overflow any more: unanswered, it ends 480.
    await waitFor('anna to be free', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
    const benAgain = await startSippUas({ scenario: 'desk-phone-ring', localPort: phonePort['1002']!, calls: 1, timeoutMs: 30_000 });
    try {
      assert.equal(finalStatus((await carlDials('2000', 'feature-code')).messages), 480);
      await benAgain.done;
    } finally {
      await benAgain.stop();
    }
  });
});
