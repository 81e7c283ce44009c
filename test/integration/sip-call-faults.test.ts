/**
 * A call always ends cleanly, whatever dies under it (README "When a component dies"): five
 * verified customer calls are connected to five desk phones through real drachtio-server and
 * FreeSWITCH, then one component is killed with SIGKILL — FreeSWITCH, drachtio-server, or the
 * service itself (a process of its own, started again under the same instance name). Within the
 * bound the README states (15 s after the component is back), every call record is closed with
 * the cause, every session id revoked, every agent free, no FreeSWITCH channel left over, and a
 * new call connects to an agent with audio both ways.
 */
import assert from 'node:assert/strict';
import type { FlowDeps } from '../../src/flows/ports.js';
import { rtpCounters } from '../../src/media/media-stats.js';
import { callCenterSkipReason, carriesAudio, fsChannels, startCallCenter, useCallCenter, type CallCenter } from '../support/call-center.js';
import { PgCluster, pgClusterSkipReason } from '../support/pg-cluster.js';
import { freePort, startDrachtio, type DrachtioServer } from '../support/drachtio-server.js';
import { startFreeswitch, type FreeswitchServer } from '../support/freeswitch-server.js';
import { serviceProcess, type ServiceProcess } from '../support/service-process.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { runSipp, startSippUas, type SippResult, type SippUas } from '../support/sipp.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { writeUlawRtpPcap } from '../support/rtp-pcap.js';
import { callerArgs, DESK_PHONE_PASSWORD, setUpContactCenter, verifiedCall, type ContactCenter } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FIVE = ['1001', '1002', '1003', '1004', '1005'].map((extension, i) => {
  const username = ['anna', 'ben', 'carl', 'dora', 'eric'][i]!;
  return { username, name: `${username[0]!.toUpperCase()}${username.slice(1)} Agent`, extension };
});
const FRED = { username: 'fred', name: 'Fred Agent', extension: '1006' };
const GINA = { username: 'gina', name: 'Gina Agent', extension: '1007' };
/** The bound the README's Operations table states, after the component is back. */
const CLEAN_WITHIN_MS = 15_000;
/** Fast passes, so the suite does not wait on the production defaults. */
const FAST = { KNOCK_CALLS__RECONCILE_SECONDS: '1', KNOCK_CALLS__INSTANCE_DEAD_SECONDS: '3' };

/** Everything a fault case needs, whichever process runs the calls. */
interface Rig {
  deps: FlowDeps;
  cc: ContactCenter;
  fs: FreeswitchServer;
  remote: string;
  phonePort: Record<string, number>;
  pcap: string;
  svc: TestService;
  /** The /readyz of the process that runs the calls. */
  readyUrl: string;
}

async function sipAndMediaUp(readyUrl: string): Promise<boolean> {
  const res = await fetch(readyUrl).catch(() => null);
  const body = res ? ((await res.json().catch(() => ({}))) as { components?: Record<string, string> }) : {};
  return body.components?.sip === 'up' && body.components?.media === 'up';
}

interface LiveCalls {
  requestIds: string[];
  phones: SippUas[];
  customers: Array<Promise<SippResult | Error>>;
}

/**
 * Five verified calls, each customer talking to the agent who knocked; resolves once all are
 * bridged. The customers stay until a BYE comes, or hang up after `talkMs` when it is given.
 */
async function connectFive(rig: Rig, ref: string, talkMs?: number): Promise<LiveCalls> {
  // A case starts on a whole system, whatever the case before it left behind.
  await waitFor('SIP and media up', () => sipAndMediaUp(rig.readyUrl), 30_000);
  const phones = await Promise.all(
    FIVE.map((a) => startSippUas({ scenario: 'desk-phone-answer-until-bye', localPort: rig.phonePort[a.extension], calls: 1, rtpEcho: true, timeoutMs: 150_000 })),
  );
  const requestIds: string[] = [];
  const customers: LiveCalls['customers'] = [];
  for (const [i, a] of FIVE.entries()) {
    const { requestId, token } = await verifiedCall(rig.svc, rig.cc, a.username, `${ref}-${i + 1}`);
    requestIds.push(requestId);
    const caller = callerArgs(rig.cc, token);
    customers.push(
      runSipp({
        scenario: talkMs ? 'customer-call' : 'customer-call-until-bye',
        remote: rig.remote,
        service: 'agent',
        vars: { ...caller.vars, pcap: rig.pcap, ...(talkMs ? { talk_ms: String(talkMs) } : {}) },
        extraArgs: caller.extraArgs,
        timeoutMs: 150_000,
      }).catch(
        (e: Error) => e,
      ),
    );
  }
  await waitFor(
    'five connected calls (an answered, open record each, ten FreeSWITCH channels)',
    async () => {
      const open = await Promise.all(requestIds.map(async (id) => (await rig.deps.store.callRecords.list({ callRequestId: id })).some((r) => r.answeredAt && !r.endedAt)));
      return open.every(Boolean) && (await fsChannels(rig.fs).catch(() => [])).length === 10;
    },
    60_000,
  );
  return { requestIds, phones, customers };
}

/** Every trace of the five calls is gone: records closed with `cause`, sessions revoked, agents free, no channel left. */
async function assertCleanedUp(rig: Rig, calls: LiveCalls, cause: string, since: number): Promise<number> {
  // What is left of the calls, named; empty once every trace is gone.
  const left = async (): Promise<string[]> => {
    const found: string[] = [];
    for (const id of calls.requestIds) {
      const records = await rig.deps.store.callRecords.list({ callRequestId: id });
      if (records.length === 0 || records.some((r) => !r.endedAt)) found.push(`request ${id}: ${records.length} records, ${records.filter((r) => !r.endedAt).length} open`);
      for (const r of records) if (r.sessionId && !(await rig.deps.store.sessions.get(r.sessionId))?.revokedAt) found.push(`session of record ${r.id} not revoked`);
      const state = (await rig.deps.store.callRequests.get(id))?.state;
      if (state !== 'ended') found.push(`request ${id} is ${state}`);
    }
    for (const a of FIVE) {
      const availability = (await rig.deps.store.agents.get(rig.cc.agents[a.username]!.id))?.availability;
      if (availability !== 'available') found.push(`${a.username} is ${availability}`);
    }
    const channels = (await fsChannels(rig.fs)).length;
    if (channels) found.push(`${channels} FreeSWITCH channels`);
    return found;
  };
  let last: string[] = [];
  await waitFor(
    `every call closed as ${cause}, its session revoked, its agent free, no FreeSWITCH channel left`,
    async () => (last = await left()).length === 0,
    CLEAN_WITHIN_MS,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; left: ${last.join('; ')}`);
  });
  const took = Date.now() - since;
  for (const id of calls.requestIds) {
    const [r] = await rig.deps.store.callRecords.list({ callRequestId: id });
    assert.equal(r!.outcome, cause);
    assert.equal((await rig.deps.store.callRequests.get(id))!.outcome, cause);
  }
  const audit = await rig.deps.store.audit.list({ limit: 10_000 });
  assert.ok(audit.some((e) => e.action === 'session.revoke' || e.action === 'call.reconcile'), 'the closes are audited');
  assert.ok((await rig.deps.store.audit.verify()).ok, 'the audit chain holds');
  return took;
}

/** After the fault: a new verified call reaches an agent, with audio both ways through FreeSWITCH. */
async function assertNewCallWithAudio(rig: Rig, ref: string): Promise<void> {
  const phone = await startSippUas({ scenario: 'desk-phone-answer', localPort: rig.phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
  try {
    const { token } = await verifiedCall(rig.svc, rig.cc, 'anna', ref);
    const caller = callerArgs(rig.cc, token);
    const call = runSipp({ scenario: 'customer-call', remote: rig.remote, service: 'agent', vars: { ...caller.vars, pcap: rig.pcap, talk_ms: '8000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
    await waitFor(
      'RTP both ways on a new call',
      async () => {
        const channels = await fsChannels(rig.fs);
        if (channels.length !== 2) return false;
        const counters = await Promise.all(channels.map((ch) => rtpCounters((cmd) => rig.fs.api(cmd), ch.uuid)));
        return counters.every((c) => carriesAudio(c, 50));
      },
      30_000,
    );
    await call;
    await phone.done;
  } finally {
    await phone.stop();
  }
}

/** `work`, or a failure naming what did not happen within `ms`. */
async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function endSipp(calls: LiveCalls): Promise<void> {
  await Promise.all(calls.phones.map((p) => p.stop().catch(() => undefined)));
}

describe('a call always ends cleanly, whatever dies under it (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(300_000);

  describe('FreeSWITCH or drachtio-server killed under five calls', function () {
    // Phones ring 20 s here: a ring outlives the kill of drachtio-server.
    const center = useCallCenter({ agents: FIVE, env: { ...FAST, KNOCK_SIP__AGENT_RING_SECONDS: '20' } });
    let rig: Rig;
    before(function () {
      const c: CallCenter = center();
      rig = { deps: c.deps, cc: c.cc, fs: c.fs, remote: c.env.remote, phonePort: c.phonePort, pcap: c.pcap, svc: c.env.svc, readyUrl: `${c.env.svc.url}/readyz` };
    });

    it('FreeSWITCH killed: both legs of every call get BYE, records close as media_lost, sessions revoked, agents free; calls connect again once it is back', async () => {
      const calls = await connectFive(rig, 'FS-KILL');
      const killedAt = Date.now();
      await rig.fs.crash();
      const t0 = Date.now();
      // Both parties hear the call end: every customer and every phone got a BYE and answered it.
      const customers = await Promise.all(calls.customers);
      for (const r of customers) assert.ok(!(r instanceof Error), `the customer got no BYE: ${r instanceof Error ? r.message.slice(0, 500) : ''}`);
      await Promise.all(calls.phones.map((p) => p.done));
      const byeMs = Date.now() - t0;
      await rig.fs.start();
      const back = Date.now();
      const took = await assertCleanedUp(rig, calls, 'media_lost', back);
      // The end recorded is when the calls ended, not when a dead FreeSWITCH's releases gave up (2 s later).
      const ends = (await Promise.all(calls.requestIds.map((id) => rig.deps.store.callRecords.list({ callRequestId: id })))).flat().map((r) => r.endedAt!.getTime() - killedAt);
      assert.ok(ends.every((ms) => ms < 1_500), `records end when the calls did: ${ends.join(', ')} ms after the kill`);
      await waitFor('the service to reconnect to FreeSWITCH', () => rig.svc.call('GET', '/readyz').then((r) => r.body.components.media === 'up'), 30_000);
      await assertNewCallWithAudio(rig, 'FS-AFTER');
      console.log(`      FreeSWITCH killed: BYE on both legs of 5 calls within ${byeMs} ms; clean ${took} ms after it was back`);
    });

    it('drachtio-server killed: FreeSWITCH channels released, records close as signalling_lost, sessions revoked, agents free; calls connect again once it is back', async () => {
      const calls = await connectFive(rig, 'SIP-KILL');
      const drachtio = center().env.drachtio;
      // The phones are stopped however the case ends: the next case rings the same ports.
      try {
        await drachtio.kill('SIGKILL');
        const t0 = Date.now();
        // Nothing can reach the phones while drachtio-server is gone; the service lets go of the media at once.
        await waitFor('the FreeSWITCH channels to be released', async () => (await fsChannels(rig.fs)).length === 0, CLEAN_WITHIN_MS);
        const releasedMs = Date.now() - t0;
        await drachtio.start();
        const back = Date.now();
        const took = await assertCleanedUp(rig, calls, 'signalling_lost', back);
        // The restarted drachtio-server forgot the dialogs, but every leg that survived the outage
        // is hung up: a BYE written from each dialog's stored state reaches every customer and phone.
        const customers = await bounded(Promise.all(calls.customers), CLEAN_WITHIN_MS, 'a BYE to every customer');
        for (const r of customers) assert.ok(!(r instanceof Error), `the customer got no BYE: ${r instanceof Error ? r.message.slice(0, 500) : ''}`);
        await bounded(Promise.all(calls.phones.map((p) => p.done)), CLEAN_WITHIN_MS, 'a BYE to every desk phone');
        const byeMs = Date.now() - back;
        await endSipp(calls);
        await waitFor('the service to reconnect to drachtio-server', () => rig.svc.call('GET', '/readyz').then((r) => r.body.components.sip === 'up'), 30_000);
        // The phones' registrations are the service's (in PostgreSQL), so they survive drachtio-server.
        await assertNewCallWithAudio(rig, 'SIP-AFTER');
        console.log(`      drachtio-server killed: channels of 5 calls released in ${releasedMs} ms; clean ${took} ms after it was back; every customer and phone got a BYE within ${byeMs} ms of it`);
      } finally {
        await endSipp(calls);
      }
    });

    it("drachtio-server killed while a phone rings: the agent is freed and the ring's channel released at once; the ring ends with a BYE once it is back", async () => {
      await waitFor('SIP and media up', () => sipAndMediaUp(rig.readyUrl), 30_000);
      const drachtio = center().env.drachtio;
      const anna = rig.cc.agents.anna!.id;
      const recordOf = async (requestId: string) => (await rig.deps.store.callRecords.list({ callRequestId: requestId }))[0];
      const phone = await startSippUas({ scenario: 'desk-phone-ring-until-bye', localPort: rig.phonePort['1001'], calls: 1, timeoutMs: 60_000 });
      try {
        const { requestId, token } = await verifiedCall(rig.svc, rig.cc, 'anna', 'SIP-KILL-RING');
        const caller = callerArgs(rig.cc, token);
        const customer = runSipp({ scenario: 'customer-call-until-bye', remote: rig.remote, service: 'agent', vars: { ...caller.vars, pcap: rig.pcap }, extraArgs: caller.extraArgs, timeoutMs: 60_000 }).catch((e: Error) => e);
        // The customer on hold music and the ring's own channel; the phone's 180 has reached the service.
        await waitFor(
          "Anna's phone ringing",
          async () => {
            const r = await recordOf(requestId);
            return r?.sipDialogStates?.some((st) => r.sipInvites?.includes(st.id)) && (await fsChannels(rig.fs)).length === 2;
          },
          20_000,
        );
        await drachtio.kill('SIGKILL');
        const t0 = Date.now();
        await waitFor(
          'Anna free and no FreeSWITCH channel left',
          async () => (await rig.deps.store.agents.get(anna))?.availability === 'available' && (await fsChannels(rig.fs)).length === 0,
          CLEAN_WITHIN_MS,
        );
        const freedMs = Date.now() - t0;
        assert.equal((await recordOf(requestId))?.outcome, 'signalling_lost');
        assert.equal((await rig.deps.store.callRequests.get(requestId))?.state, 'ended');
        await drachtio.start();
        const back = Date.now();
        // The restarted drachtio-server forgot the INVITE, so no CANCEL can match it: the phone's
        // ring is ended by a BYE in the early dialog its 180 made, the customer's leg by a BYE too.
        await bounded(phone.done, CLEAN_WITHIN_MS, "BYE ending Anna's phone's ring");
        const end = await bounded(customer, CLEAN_WITHIN_MS, 'BYE to the customer');
        assert.ok(!(end instanceof Error), `the customer got no BYE: ${end instanceof Error ? end.message.slice(0, 500) : ''}`);
        console.log(`      drachtio-server killed while a phone rang: agent free and channels released ${freedMs} ms after the kill; the ring and the customer ended by BYE ${Date.now() - back} ms after it was back`);
      } finally {
        await phone.stop();
      }
    });

    it("drachtio-server killed while a blind transfer's target rings: the target is freed, and its ring ends with a BYE once it is back", async () => {
      await waitFor('SIP and media up', () => sipAndMediaUp(rig.readyUrl), 30_000);
      const drachtio = center().env.drachtio;
      const ben = rig.cc.agents.ben!.id;
      const recordOf = async (requestId: string) => (await rig.deps.store.callRecords.list({ callRequestId: requestId }))[0];
      // Anna answers, then transfers the customer to 1002; Ben's phone rings and never answers.
      const anna = await startSippUas({ scenario: 'agent-blind-transfer', localPort: rig.phonePort['1001'], calls: 1, rtpEcho: true, vars: { target: '1002', talk_ms: '1000' }, timeoutMs: 60_000 });
      const benPhone = await startSippUas({ scenario: 'desk-phone-ring-until-bye', localPort: rig.phonePort['1002'], calls: 1, timeoutMs: 60_000 });
      try {
        const { requestId, token } = await verifiedCall(rig.svc, rig.cc, 'anna', 'SIP-KILL-XFER-RING');
        const caller = callerArgs(rig.cc, token);
        const customer = runSipp({ scenario: 'customer-call-until-bye', remote: rig.remote, service: 'agent', vars: { ...caller.vars, pcap: rig.pcap }, extraArgs: caller.extraArgs, timeoutMs: 60_000 }).catch((e: Error) => e);
        // Ben reserved and the ring's channel made (customer, Anna, the ring: three); his phone answers 180 at once.
        await waitFor(
          "Ben's phone ringing with the transferred call",
          async () => (await rig.deps.store.agents.get(ben))?.availability === 'busy' && (await fsChannels(rig.fs)).length === 3,
          20_000,
        );
        await new Promise((r) => setTimeout(r, 1000));
        // Back 1 s later: before the ring's unanswerable CANCEL is given up.
        await drachtio.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 1000));
        await drachtio.start();
        const back = Date.now();
        await waitFor('Ben free', async () => (await rig.deps.store.agents.get(ben))?.availability === 'available', CLEAN_WITHIN_MS);
        // The restarted drachtio-server forgot the INVITE: the ring ends with a BYE in the early dialog Ben's 180 made.
        await bounded(benPhone.done, CLEAN_WITHIN_MS, "BYE ending Ben's phone's ring");
        const byeMs = Date.now() - back;
        const end = await bounded(customer, CLEAN_WITHIN_MS, 'BYE to the customer');
        assert.ok(!(end instanceof Error), `the customer got no BYE: ${end instanceof Error ? end.message.slice(0, 500) : ''}`);
        await bounded(anna.done, CLEAN_WITHIN_MS, "BYE to Anna's phone");
        assert.equal((await recordOf(requestId))?.outcome, 'signalling_lost');
        console.log(`      drachtio-server killed while a transfer's target rang: the ring ended by BYE ${byeMs} ms after it was back`);
      } finally {
        await benPhone.stop();
        await anna.stop();
      }
    });
  });

  describe('PostgreSQL restarted under five calls', function () {
    let cluster: PgCluster | undefined;
    let center: CallCenter | undefined;
    let rig: Rig;
    before(async function () {
      skipWhenMissing(this, callCenterSkipReason() ?? pgClusterSkipReason());
      cluster = await PgCluster.create();
      // A phone rings 5 s: long enough for the database to be down when a ring runs out.
      center = await startCallCenter({ agents: FIVE, env: { ...FAST, DATABASE_URL: cluster.url, KNOCK_SIP__AGENT_RING_SECONDS: '5' } });
      rig = { deps: center.deps, cc: center.cc, fs: center.fs, remote: center.env.remote, phonePort: center.phonePort, pcap: center.pcap, svc: center.env.svc, readyUrl: `${center.env.svc.url}/readyz` };
    });
    after(async () => {
      await center?.stop();
      cluster?.destroy();
    });

    it('calls stay up through the restart, and their ends are recorded once it is back', async () => {
      const calls = await connectFive(rig, 'PG-RESTART', 9000);
      const t0 = Date.now();
      cluster!.restart();
      const restartMs = Date.now() - t0;
      // The calls went on: media still flows on all ten channels.
      assert.equal((await fsChannels(rig.fs)).length, 10);
      const customers = await Promise.all(calls.customers);
      for (const r of customers) assert.ok(!(r instanceof Error), `a customer's call broke: ${r instanceof Error ? r.message.slice(0, 500) : ''}`);
      await Promise.all(calls.phones.map((p) => p.done));
      const took = await assertCleanedUp(rig, calls, 'completed', Date.now());
      await assertNewCallWithAudio(rig, 'PG-AFTER');
      console.log(`      PostgreSQL restarted in ${restartMs} ms under 5 calls: all ended normally, recorded within ${took} ms of the hang-ups`);
    });

    it('an outage while a call ends keeps the moment it ended; an outage while a phone rings does not stop the queue', async () => {
      await waitFor('SIP and media up', () => sipAndMediaUp(rig.readyUrl), 30_000);
      const recordOf = async (requestId: string) => (await rig.deps.store.callRecords.list({ callRequestId: requestId }))[0];
      // 1. A customer hangs up while the database is away: the record keeps the hang-up's time.
      const ericPhone = await startSippUas({ scenario: 'desk-phone-answer', localPort: rig.phonePort['1005'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
      const first = await verifiedCall(rig.svc, rig.cc, 'eric', 'PG-END');
      const firstCaller = callerArgs(rig.cc, first.token);
      const started = Date.now();
      const hangUp = runSipp({ scenario: 'customer-call', remote: rig.remote, service: 'agent', vars: { ...firstCaller.vars, pcap: rig.pcap, talk_ms: '6000' }, extraArgs: firstCaller.extraArgs, timeoutMs: 60_000 }).then(() => Date.now());
      await waitFor('the first call connected', async () => (await recordOf(first.requestId))?.answeredAt, 20_000);
      await new Promise((r) => setTimeout(r, Math.max(0, started + 2500 - Date.now())));
      const firstOutage = cluster!.outage(6000).then(() => Date.now());
      const hungUpAt = await hangUp;
      const backAt = await firstOutage;
      await ericPhone.done;
      await ericPhone.stop();
      const ended = await waitFor('the end recorded once the database is back', async () => (await recordOf(first.requestId))?.endedAt, 15_000);
      assert.ok(hungUpAt < backAt - 1000, `the customer hung up ${backAt - hungUpAt} ms before the database was back: not during the outage`);
      const endSkewMs = ended.getTime() - hungUpAt;
      assert.ok(Math.abs(endSkewMs) < 1000, `the record says the call ended ${endSkewMs} ms after the hang-up (the database came back ${backAt - hungUpAt} ms after it)`);

      // 2. Anna's phone rings when the database goes; her ring runs out during the outage. Once
      // the database is back the customer is offered to the next agent, who answers.
      const annaPhone = await startSippUas({ scenario: 'desk-phone-ring', localPort: rig.phonePort['1001'], calls: 1, timeoutMs: 60_000 });
      const others = await Promise.all(
        FIVE.slice(1).map((a) => startSippUas({ scenario: 'desk-phone-answer', localPort: rig.phonePort[a.extension], calls: 1, rtpEcho: true, timeoutMs: 60_000 })),
      );
      try {
        const second = await verifiedCall(rig.svc, rig.cc, 'anna', 'PG-RING');
        const caller = callerArgs(rig.cc, second.token);
        const call = runSipp({ scenario: 'customer-call', remote: rig.remote, service: 'agent', vars: { ...caller.vars, pcap: rig.pcap, talk_ms: '15000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 }).catch((e: Error) => e);
        await waitFor("Anna's phone ringing", async () => (await recordOf(second.requestId))?.sipInvites?.length, 20_000);
        // Down from about a second after her phone starts ringing until after its 5 s run out.
        const outageAt = Date.now();
        await cluster!.outage(5000);
        const back = Date.now();
        await annaPhone.done;
        const connected = await waitFor('the customer connected to another agent', async () => {
          const r = await recordOf(second.requestId).catch(() => undefined);
          return r?.answeredAt && r.agentId !== rig.cc.agents.anna!.id ? r : null;
        }, 20_000);
        const took = Date.now() - back;
        assert.equal((await rig.deps.store.agents.get(rig.cc.agents.anna!.id))?.availability, 'available', 'Anna, whose phone rang, is free again');
        assert.equal((await rig.deps.store.callRequests.get(second.requestId))?.state, 'connected');
        const end = await call;
        assert.ok(!(end instanceof Error), `the customer's call broke: ${end instanceof Error ? end.message.slice(0, 500) : ''}`);
        console.log(
          `      PostgreSQL away ${back - outageAt} ms while a phone rang: the customer reached ${connected.agentId === rig.cc.agents.ben!.id ? 'ben' : 'another agent'} ${took} ms after it was back; ` +
            `an end during an outage was stamped ${endSkewMs} ms from the hang-up (written ${ended.getTime() < backAt ? 'after' : 'at'} the database came back)`,
        );
      } finally {
        await annaPhone.stop();
        await Promise.all(others.map((p) => p.stop().catch(() => undefined)));
      }
    });
  });

  describe('the service itself killed under five calls', function () {
    let fs: FreeswitchServer | undefined;
    let drachtio: DrachtioServer | undefined;
    let svc: TestService | undefined;
    let proc: ServiceProcess | undefined;
    let workDir: string | undefined;
    let rig: Rig;

    before(async function () {
      skipWhenMissing(this, callCenterSkipReason());
      workDir = mkdtempSync(join(tmpdir(), 'knock-faults-'));
      const pcap = join(workDir, 'customer.pcap');
      writeUlawRtpPcap(pcap, 4);
      fs = await startFreeswitch();
      drachtio = await startDrachtio();
      // The API the customer and the agents use runs here; the calls run in the process that is killed.
      svc = await startTestService();
      const outbound = await freePort();
      const env = {
        ...FAST,
        DATABASE_URL: svc.db.url,
        KNOCK_SERVER__INSTANCE_NAME: 'knock-fault-test',
        KNOCK_SIP__ENABLED: 'true',
        KNOCK_SIP__DRACHTIO__HOST: drachtio.host,
        KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
        KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
        // Longer than the restart: a CANCEL the ringing phone gets can only come from the new process.
        KNOCK_SIP__AGENT_RING_SECONDS: '10',
        KNOCK_MEDIA__FREESWITCH__PORT: String(fs.eslPort),
        KNOCK_MEDIA__FREESWITCH__SECRET: fs.eslSecret,
        KNOCK_MEDIA__OUTBOUND_SOCKET__PORT: String(outbound),
        KNOCK_JOBS__PROCESS_EVERY_MS: '100',
      };
      proc = await serviceProcess(env);
      // Fred has no desk phone: a customer calling him waits in the queue while the others talk.
      const cc = await setUpContactCenter(svc, { agents: [...FIVE, FRED, GINA] });
      await proc.start(['database', 'sip', 'media']);
      const phonePort: Record<string, number> = {};
      for (const a of [...FIVE, GINA]) {
        phonePort[a.extension] = await freePort({ udp: true });
        await runSipp({
          scenario: 'register-ok',
          remote: `127.0.0.1:${drachtio.sipPort}`,
          localPort: phonePort[a.extension],
          timeoutMs: 10_000,
          vars: { user: a.extension, expires: '600' },
          extraArgs: ['-au', a.extension, '-ap', DESK_PHONE_PASSWORD],
        });
      }
      rig = { deps: svc.service.deps, cc, fs, remote: `127.0.0.1:${drachtio.sipPort}`, phonePort, pcap, svc, readyUrl: `${proc!.url}/readyz` };
      for (const a of [...FIVE, GINA].map((f) => cc.agents[f.username]!)) {
        await waitFor(`${a.username} to be available`, async () => (await rig.deps.store.agents.get(a.id))!.availability === 'available');
      }
    });
    after(async function () {
      if (proc) writeFileSync(join(tmpdir(), 'knock-fault-service.log'), proc.logs());
      await proc?.stop();
      await svc?.stop();
      await drachtio?.stop();
      await fs?.stop();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it('killed and started again: its calls are closed as service_restarted, their legs hung up, sessions revoked, agents free; new calls connect', async () => {
      const calls = await connectFive(rig, 'SVC-KILL');
      // Two calls still being set up. Fred has no desk phone, so his customer goes to the group's
      // free agent: the sixth rings Gina's phone (an INVITE not yet answered); the seventh, with
      // nobody left, waits in the queue on hold music.
      const ringing = await startSippUas({ scenario: 'desk-phone-ring', localPort: rig.phonePort[GINA.extension], calls: 1, timeoutMs: 60_000 });
      // `hangUpAfterMs`: the customer hangs up that long after being answered, expecting a 481.
      const customerOf = async (agent: string, ref: string, hangUpAfterMs?: number) => {
        const v = await verifiedCall(rig.svc, rig.cc, agent, ref);
        const caller = callerArgs(rig.cc, v.token);
        const result = runSipp({
          scenario: hangUpAfterMs ? 'customer-call-bye-refused' : 'customer-call-until-bye',
          remote: rig.remote,
          service: 'agent',
          vars: { ...caller.vars, pcap: rig.pcap, ...(hangUpAfterMs ? { talk_ms: String(hangUpAfterMs) } : {}) },
          extraArgs: caller.extraArgs,
          timeoutMs: 30_000,
        }).catch((e: Error) => e);
        return { requestId: v.requestId, result };
      };
      const record = async (requestId: string) => (await rig.deps.store.callRecords.list({ callRequestId: requestId }))[0];
      const sixth = await customerOf('fred', 'SVC-KILL-RINGING');
      // Ringing: the INVITE to her phone went out and is on the call's record (what a survivor CANCELs).
      await waitFor("Gina's phone ringing", async () => (await record(sixth.requestId))?.sipInvites?.length, 20_000);
      // Knocked by Gina, who is taken by the ring: nobody is free. This customer hangs up 5 s after
      // being answered (queued on hold music), while the process is dead.
      const seventh = await customerOf('gina', 'SVC-KILL-QUEUED', 5000);
      await waitFor('the seventh customer queued', async () => (await record(seventh.requestId))?.mediaChannels?.length, 20_000);
      const settingUp = [sixth.requestId, seventh.requestId];
      await proc!.crash();
      // Killed mid-call: the legs are still up in drachtio-server and FreeSWITCH, and nothing closed the records.
      // (The channels of the ringing call may go with the process's event sockets; the connected and queued ones stay.)
      const leftAfterCrash = (await fsChannels(rig.fs)).length;
      assert.ok(leftAfterCrash >= 11, `${leftAfterCrash} FreeSWITCH channels left after the crash`);
      // The queued customer's BYE, with no process holding the call: drachtio-server answers 481
      // itself (it routes an in-dialog request only to the application that made the dialog).
      const refused = await seventh.result;
      assert.ok(!(refused instanceof Error), `the BYE of the customer who hung up was not answered 481: ${refused instanceof Error ? refused.message.slice(0, 500) : ''}`);
      assert.equal((await record(seventh.requestId))?.endedAt, null, 'nobody closed the call yet');
      await proc!.start(['database', 'sip', 'media']);
      const back = Date.now();
      // The restarted process closes that call on its own (its second pass), though nobody told it.
      await waitFor('the call whose customer hung up closed', async () => (await record(seventh.requestId))?.endedAt, CLEAN_WITHIN_MS);
      const hungUpClosedMs = Date.now() - back;
      const took = await assertCleanedUp(rig, calls, 'service_restarted', back);
      // The restarted process hung up what the old one left: the parties got a BYE.
      const customers = await Promise.all(calls.customers);
      const byes = customers.filter((r) => !(r instanceof Error) && /BYE sip:/.test(r.messages)).length;
      await endSipp(calls);
      // Calls still being set up are hung up too: the customer gets a BYE, the ringing phone a CANCEL.
      await ringing.done;
      await ringing.stop();
      const end = await sixth.result;
      assert.ok(!(end instanceof Error), `the customer whose agent's phone rang got no BYE: ${end instanceof Error ? end.message.slice(0, 500) : ''}`);
      for (const id of settingUp) {
        const closed = await record(id);
        assert.equal(closed?.outcome, 'service_restarted', 'the setup was recorded, and closed with the cause');
        assert.equal(closed?.answeredAt, null);
        assert.equal((await rig.deps.store.callRequests.get(id))?.state, 'ended');
      }
      await assertNewCallWithAudio(rig, 'SVC-AFTER');
      console.log(`      service killed: 5 calls closed ${took} ms after it was back; ${byes} of 5 customers got a BYE; a customer who hung up while it was dead got 481, and the call was closed ${hungUpClosedMs} ms after it was back`);
      assert.equal(byes, 5, 'every customer leg got a BYE from the restarted process');
    });
  });
});
