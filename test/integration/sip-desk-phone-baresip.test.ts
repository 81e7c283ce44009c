/**
 * A real softphone as the agent's desk phone (baresip, answering by itself, speaking a tone from
 * a WAV file), with the default configuration, on real drachtio-server and FreeSWITCH: it
 * registers with digest over UDP, TCP and TLS (drachtio-server with a certificate from a throwaway
 * CA), and a verified customer call (sipp as the app) is answered on each with audio both ways; a TCP phone whose connection is gone is
 * marked unreachable at once and the call goes to the next agent; the phone's own blind transfer
 * from a UDP phone to a TCP phone keeps the customer connected and verified; its hold and resume keys
 * keep the customer connected (hold music meanwhile, audio both ways again after), and its keypad's
 * RFC 4733 DTMF reaches FreeSWITCH.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deskPhoneUnregistered } from '../../src/flows/desk-phone.js';
import { rtpCounters, type RtpCounters } from '../../src/media/media-stats.js';
import { baresipAvailable, startBaresip, type Baresip } from '../support/baresip.js';
import { AGENTS, callCenterSkipReason, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import type { FreeswitchServer } from '../support/freeswitch-server.js';
import { writeUlawRtpPcap } from '../support/rtp-pcap.js';
import { runSipp } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { makeTestCa, testCaSkipReason } from '../support/test-ca.js';
import { waitFor } from '../support/wait-for.js';

async function channelStates(fs: FreeswitchServer): Promise<Array<{ uuid: string; callstate: string }>> {
  const parsed = JSON.parse(await fs.api('show channels as json')) as { rows?: Array<{ uuid: string; callstate: string }> };
  return parsed.rows ?? [];
}

/** RFC 4733 telephone-event packets a FreeSWITCH channel has received (its DTMF counter). */
async function dtmfPackets(fs: FreeswitchServer, uuid: string): Promise<number> {
  await fs.api(`uuid_set_media_stats ${uuid}`);
  return Number((await fs.api(`uuid_getvar ${uuid} rtp_audio_in_dtmf_packet_count`)).trim()) || 0;
}

/** Final answers (not 1xx, not a 401 challenge) to the phone's requests of `method`, from its SIP trace. */
function finalAnswers(trace: string, method: string): Array<{ status: number; allow: string | null; text: string }> {
  return trace
    .replace(/\r/g, '')
    .split(/\n\s*\n/)
    .map((block) => block.slice(block.indexOf('SIP/2.0 ')))
    .filter((m) => /^SIP\/2\.0 \d{3}/.test(m) && new RegExp(`^CSeq: \\d+ ${method}$`, 'm').test(m))
    .map((m) => ({ status: Number(m.slice(8, 11)), allow: /^Allow: (.*)$/m.exec(m)?.[1] ?? null, text: m }))
    .filter((a) => a.status >= 200 && a.status !== 401);
}

describe('a softphone as the desk phone (baresip + drachtio-server + FreeSWITCH)', function () {
  this.timeout(90_000);
  // SIP over TLS on drachtio-server with a certificate from a throwaway CA (when openssl is here).
  const ca = testCaSkipReason() ? null : makeTestCa();
  after(() => ca?.remove());
  const center = useCallCenter({
    agents: [AGENTS.anna, AGENTS.ben],
    registerPhones: false,
    ...(ca ? { drachtio: { tls: { keyFile: ca.keyFile, certFile: ca.certFile, chainFile: ca.caFile } } } : {}),
    alsoNeeds: () => callCenterSkipReason() ?? (baresipAvailable() ? `baresip tests skipped: ${baresipAvailable()}` : null),
  });

  for (const transport of ['udp', 'tcp', 'tls'] as const) {
    it(`registers over ${transport.toUpperCase()} and answers a verified customer call with audio both ways`, async function () {
      if (transport === 'tls') skipWhenMissing(this, testCaSkipReason() ? `TLS test skipped: ${testCaSkipReason()}` : null);
      const { fs, env, deps, cc, pcap } = center();
      const anna = cc.agents.anna!;
      let phone: Baresip | null = null;
      try {
        const registrar = transport === 'tls' ? `127.0.0.1:${env.drachtio.tlsPort}` : env.remote;
        phone = await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar, transport, ...(ca ? { caFile: ca.caFile } : {}) });
        // (Its REGISTER_OK event may come before the control socket is connected: look at the store.)
        const [binding] = await waitFor('the binding', async () => {
          const b = await deps.store.registrations.list(AGENTS.anna.extension, new Date());
          return b.length ? b : null;
        });
        assert.match(binding!.source, new RegExp(`^${transport}/127\\.0\\.0\\.1:\\d+$`));
        await waitFor('anna to be available', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');

        const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', `CASE-${transport}`);
        const caller = callerArgs(cc, token);
        const call = runSipp({
          scenario: 'customer-call',
          remote: env.remote,
          service: 'agent',
          vars: { ...caller.vars, pcap, talk_ms: '7000' },
          extraArgs: caller.extraArgs,
          timeoutMs: 45_000,
        });
        const counters = await waitFor(
          'RTP both ways through the bridge',
          async () => {
            const channels = await fsChannels(fs);
            if (channels.length !== 2) return null;
            const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
            return c.every((x) => carriesAudio(x, 50)) ? (c as RtpCounters[]) : null;
          },
          25_000,
        );
        console.log(`      ${transport}: RTP packets in/out per FreeSWITCH channel: ${counters.map((c) => `${c.inPackets}/${c.outPackets}`).join(', ')}`);
        const established = await phone.waitForEvent('CALL_ESTABLISHED', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
        assert.match(String(established.param ?? ''), /^sip:\+447700900123@/);
        const customer = await call;
        assert.ok(received(customer, /^SIP\/2\.0 200/));
        const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
        assert.equal(record!.agentId, anna.id);
        assert.equal(record!.verification, 'token:biometric');
        await waitFor('anna to be available again', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');
      } finally {
        await phone?.stop();
        await deps.store.registrations.removeAll(AGENTS.anna.extension);
        await deskPhoneUnregistered(deps, AGENTS.anna.extension);
      }
    });
  }

  it("holds and resumes from the phone's keys with the customer connected, and its keypad's RFC 4733 DTMF reaches FreeSWITCH", async () => {
    const { fs, env, deps, cc } = center();
    const anna = cc.agents.anna!;
    // The customer speaks for the whole call, so audio towards the phone can be counted after the resume.
    const pcap = join(tmpdir(), `knock-customer-${process.pid}-${Date.now()}.pcap`);
    writeUlawRtpPcap(pcap, 20);
    let phone: Baresip | null = null;
    try {
      phone = await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'udp' });
      await waitFor('anna to be available', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');
      const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-hold');
      const caller = callerArgs(cc, token);
      const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '14000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await phone.waitForEvent('anna to answer', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
      const stats = (uuid: string) => rtpCounters((cmd) => fs.api(cmd), uuid);
      await waitFor('RTP both ways before the hold', async () => {
        const rows = await channelStates(fs);
        return rows.length === 2 && (await Promise.all(rows.map((r) => stats(r.uuid)))).every((c) => carriesAudio(c, 25));
      });

      // Hold: the phone's re-INVITE (a=sendonly) is answered by its FreeSWITCH channel, which
      // holds it; the customer hears hold music meanwhile and stays in the call.
      assert.equal((await phone.command('hold')).ok, true);
      const held = await waitFor("anna's FreeSWITCH channel held", async () => {
        const rows = await channelStates(fs);
        return rows.length === 2 && rows.some((r) => r.callstate === 'HELD') ? rows : null;
      });
      const agentChannel = held.find((r) => r.callstate === 'HELD')!.uuid;
      const customerChannel = held.find((r) => r.callstate !== 'HELD')!.uuid;
      const toCustomer = (await stats(customerChannel))!.outPackets;
      await waitFor('hold music to the customer', async () => (await stats(customerChannel))!.outPackets >= toCustomer + 50);

      // Resume: both ways again between the phone and FreeSWITCH.
      assert.equal((await phone.command('resume')).ok, true);
      await waitFor('the hold to end', async () => (await channelStates(fs)).every((r) => r.callstate === 'ACTIVE'));
      const resumed = (await stats(agentChannel))!;
      const after = await waitFor('RTP both ways with the phone after the resume', async () => {
        const c = (await stats(agentChannel))!;
        return c.inPackets >= resumed.inPackets + 50 && c.outPackets >= resumed.outPackets + 50 && c.inBytes >= resumed.inBytes + 50 * 160 ? c : null;
      });
      console.log(`      after the resume, anna's channel in/out: +${after.inPackets - resumed.inPackets}/+${after.outPackets - resumed.outPackets} packets`);

      // DTMF from the keypad: RFC 4733 telephone-events, counted by FreeSWITCH as DTMF packets.
      const dtmfBefore = await dtmfPackets(fs, agentChannel);
      assert.equal((await phone.command('sndcode', '1234#')).ok, true);
      const dtmf = await waitFor('DTMF packets at FreeSWITCH', async () => {
        const n = await dtmfPackets(fs, agentChannel);
        return n > dtmfBefore ? n : null;
      });
      console.log(`      DTMF: ${dtmf - dtmfBefore} RFC 4733 packets received by FreeSWITCH for "1234#"`);

      const customer = await call;
      assert.ok(received(customer, /^SIP\/2\.0 200/));
      const [record] = await waitFor('the call record closed', async () => {
        const list = await deps.store.callRecords.list({ callRequestId: requestId });
        return list[0]?.outcome ? list : null;
      });
      assert.equal(record!.outcome, 'completed');
    } finally {
      await phone?.stop();
      rmSync(pcap, { force: true });
      await deps.store.registrations.removeAll(AGENTS.anna.extension);
      await deskPhoneUnregistered(deps, AGENTS.anna.extension);
    }
  });

  it('connects two phones that insist on SDES-SRTP (RTP/SAVP + a=crypto) calling each other by extension: encrypted audio both ways', async () => {
    const { env, deps, cc } = center();
    const phones: Baresip[] = [];
    try {
      for (const a of [AGENTS.anna, AGENTS.ben]) phones.push(await startBaresip({ user: a.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'udp', mediaenc: 'srtp-mand' }));
      for (const a of [cc.agents.anna!, cc.agents.ben!]) await waitFor(`${a.username} to be available`, async () => (await deps.store.agents.get(a.id))!.availability === 'available');
      const [anna, ben] = phones as [Baresip, Baresip];
      assert.equal((await anna.command('dial', `sip:${AGENTS.ben.extension}@${env.remote}`)).ok, true);
      for (const p of phones) {
        // The srtp module's event once the keys of both sides are in use.
        const menc = await p.waitForEvent('SRTP in use', (e) => e.event === true && e.type === 'CALL_MENC');
        assert.match(String(menc.param), /AES_CM_128_HMAC_SHA1_80/);
        await p.waitForEvent('the call established', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
      }
      // Each phone decrypts what the other sends (packets it could not decrypt are not counted).
      const counts = await waitFor('SRTP both ways', async () => {
        const debug = await Promise.all(phones.map(async (p) => String((await p.command('audio_debug')).data ?? '')));
        if (!debug.every((d) => /menc: srtp-mand \(secure=yes\)/.test(d))) return null;
        const rcvd = debug.map((d) => Number(/rcvd=(\d+)/.exec(d)?.[1] ?? 0));
        return rcvd.every((n) => n >= 50) ? rcvd : null;
      });
      console.log(`      SRTP packets received by anna/ben: ${counts.join('/')}`);
      assert.equal((await anna.command('hangup')).ok, true);
      await ben.waitForEvent('the call closed', (e) => e.event === true && e.type === 'CALL_CLOSED');
    } finally {
      for (const p of phones) await p.stop();
      for (const a of [AGENTS.anna, AGENTS.ben]) {
        await deps.store.registrations.removeAll(a.extension);
        await deskPhoneUnregistered(deps, a.extension);
      }
    }
  });

  it('uses the flow of a phone that asks for RFC 5626 outbound over TCP (a customer call over its connection), and replaces its binding when it restarts', async () => {
    const { fs, env, deps, cc, pcap } = center();
    const phones: Baresip[] = [];
    // baresip's outbound: the instance id from the uuid module, the account's outbound proxy is the flow.
    const outboundPhone = () =>
      startBaresip({
        user: AGENTS.anna.extension,
        password: DESK_PHONE_PASSWORD,
        registrar: env.remote,
        transport: 'tcp',
        accountParams: `;sipnat=outbound;outbound="sip:${env.remote};transport=tcp"`,
        instanceUuid: '3f1c6a0e-2b7d-4c59-9a8e-5d4b2c1a0f9e',
        sipTrace: true,
      });
    try {
      phones.push(await outboundPhone());
      const phone = phones[0]!;
      const [binding] = await waitFor('the binding', async () => {
        const b = await deps.store.registrations.list(AGENTS.anna.extension, new Date());
        return b.length ? b : null;
      });
      assert.match(binding!.source, /^tcp\/127\.0\.0\.1:\d+$/);
      assert.deepEqual({ instanceId: binding!.instanceId, regId: binding!.regId }, { instanceId: 'urn:uuid:3f1c6a0e-2b7d-4c59-9a8e-5d4b2c1a0f9e', regId: 1 });
      const [ok] = finalAnswers(phone.output(), 'REGISTER');
      assert.equal(ok?.status, 200);
      assert.match(ok!.text, /^Require: outbound$/m, 'the registrar says it uses the flow');
      await waitFor('anna to be available', async () => (await deps.store.agents.get(cc.agents.anna!.id))!.availability === 'available');
      const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-outbound');
      const caller = callerArgs(cc, token);
      const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '6000' }, extraArgs: caller.extraArgs, timeoutMs: 45_000 });
      await phone.waitForEvent('CALL_ESTABLISHED', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
      await waitFor(
        'RTP both ways through the bridge',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return null;
          return (await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)))).every((x) => carriesAudio(x, 50));
        },
        25_000,
      );
      await call;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, cc.agents.anna!.id);

      // The phone restarts (no goodbye): same instance, a new Contact and connection. Its
      // REGISTER replaces the old binding instead of adding one beside it.
      await phone.kill();
      phones.push(await outboundPhone());
      const after = await waitFor('the new binding', async () => {
        const b = await deps.store.registrations.list(AGENTS.anna.extension, new Date());
        return b.some((x) => x.contact !== binding!.contact) ? b : null;
      });
      assert.equal(after.length, 1, `one binding, not two: ${JSON.stringify(after.map((b) => b.contact))}`);
      assert.notEqual(after[0]!.source, binding!.source);
    } finally {
      for (const p of phones) await p.stop();
      await deps.store.registrations.removeAll(AGENTS.anna.extension);
      await deskPhoneUnregistered(deps, AGENTS.anna.extension);
    }
  });

  it("answers what a phone sends besides calls: its message lamp told there are no messages, its presence PUBLISH and a text MESSAGE 405 with Allow, never 503", async () => {
    const { env, deps } = center();
    let phone: Baresip | null = null;
    try {
      // mwi: SUBSCRIBE message-summary; presence with pubint: PUBLISH of its own presence; the
      // watched colleague is the current contact a MESSAGE goes to.
      phone = await startBaresip({
        user: AGENTS.anna.extension,
        password: DESK_PHONE_PASSWORD,
        registrar: env.remote,
        transport: 'udp',
        watch: [AGENTS.ben.extension],
        accountParams: ';pubint=60;mwi=yes',
        appModules: ['mwi.so'],
        sipTrace: true,
      });
      await waitFor('the binding', async () => (await deps.store.registrations.list(AGENTS.anna.extension, new Date())).length > 0);
      assert.equal((await phone.command('message', 'hello')).ok, true);
      const p = phone;
      const answerTo = (method: string) =>
        waitFor(`the final answer to the phone's ${method}`, async () => finalAnswers(p.output(), method)[0] ?? null);
      for (const method of ['PUBLISH', 'MESSAGE']) {
        const a = await answerTo(method);
        assert.equal(a.status, 405, `${method}: ${JSON.stringify(a)}`);
        assert.match(a.allow ?? '', /\bSUBSCRIBE\b/);
        assert.doesNotMatch(a.allow ?? '', new RegExp(`\\b${method}\\b`));
      }
      // The message lamp: the mwi module prints the NOTIFY it got.
      await waitFor('the message-summary NOTIFY', async () => /MWI for [^\n]*\n(?:[^\n]*\n)?Messages-Waiting: no/.test(p.output().replace(/\r/g, '')));
      assert.doesNotMatch(p.output(), /^SIP\/2\.0 503/m);
    } finally {
      await phone?.stop();
      await deps.store.registrations.removeAll(AGENTS.anna.extension);
      await deskPhoneUnregistered(deps, AGENTS.anna.extension);
    }
  });

  it('marks a TCP phone whose connection is gone unreachable at once, warns once, shows it, gives the call to the next agent, and takes it back when it registers again', async () => {
    const { fs, env, deps, cc, pcap } = center();
    const [anna, ben] = [cc.agents.anna!, cc.agents.ben!];
    const phones: Baresip[] = [];
    try {
      phones.push(await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'tcp' }));
      phones.push(await startBaresip({ user: AGENTS.ben.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'udp' }));
      for (const a of [anna, ben]) {
        await waitFor(`${a.username}'s binding`, async () => (await deps.store.registrations.list(a.extension, new Date())).length > 0);
        await waitFor(`${a.username} to be available`, async () => (await deps.store.agents.get(a.id))!.availability === 'available');
      }
      // Anna's phone dies: its TCP connection closes, it never says goodbye.
      await phones[0]!.kill();

      const logsBefore = env.svc.logs.length;
      const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-gone');
      const caller = callerArgs(cc, token);
      const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '5000' }, extraArgs: caller.extraArgs, timeoutMs: 45_000 });
      await waitFor(
        'RTP both ways with ben',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return null;
          const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
          return c.every((x) => carriesAudio(x, 25));
        },
        25_000,
      );
      await call;
      const [record] = await deps.store.callRecords.list({ callRequestId: requestId });
      assert.equal(record!.agentId, ben.id, 'the next agent took the call');

      const logs = env.svc.logs.slice(logsBefore);
      const rangAnna = logs.filter((l) => l.includes('"ringing agent"') && l.includes(anna.id));
      const warned = logs.filter((l) => l.includes('desk phone unreachable: not rung again'));
      console.log(`      anna's phone rung ${rangAnna.length} time(s), warned ${warned.length} time(s)`);
      assert.equal(rangAnna.length, 1, 'the unreachable phone is tried once, not every second');
      assert.equal(warned.length, 1);
      assert.match(warned[0]!, /"level":40/);
      assert.equal((await deps.store.agents.get(anna.id))!.availability, 'offline');
      const [binding] = await deps.store.registrations.list(AGENTS.anna.extension, new Date());
      assert.ok(binding?.unreachableSince, 'the binding is marked unreachable');
      const listed = await env.svc.call('GET', '/api/v1/agents', { token: cc.consoleTokens.ben });
      assert.equal(listed.status, 200, listed.text);
      const shown = (listed.body.items as Array<{ id: string; phone: string; availability: string }>).find((a) => a.id === anna.id)!;
      assert.deepEqual({ availability: shown.availability, phone: shown.phone }, { availability: 'offline', phone: 'unreachable' });

      // The phone comes back (restarted, a new connection): its REGISTER makes Anna available
      // again, the console shows the phone registered, and only the new binding is rung.
      phones.push(await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'tcp' }));
      await waitFor('anna available again', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');
      const again = await env.svc.call('GET', '/api/v1/agents', { token: cc.consoleTokens.ben });
      assert.equal((again.body.items as Array<{ id: string; phone: string }>).find((a) => a.id === anna.id)!.phone, 'registered');
      const live = await deps.store.registrations.list(AGENTS.anna.extension, new Date());
      assert.equal(live.filter((b) => !b.unreachableSince).length, 1, 'the new binding is live, the dead one stays marked until it expires');
    } finally {
      for (const p of phones) await p.stop();
      for (const a of [AGENTS.anna, AGENTS.ben]) {
        await deps.store.registrations.removeAll(a.extension);
        await deskPhoneUnregistered(deps, a.extension);
      }
    }
  });

  it("blind-transfers from a UDP phone's transfer to a TCP phone: the customer stays connected and verified", async () => {
    const { fs, env, deps, cc, pcap } = center();
    const [anna, ben] = [cc.agents.anna!, cc.agents.ben!];
    const phones: Baresip[] = [];
    try {
      phones.push(await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'udp' }));
      phones.push(await startBaresip({ user: AGENTS.ben.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport: 'tcp' }));
      for (const a of [anna, ben]) {
        await waitFor(`${a.username}'s binding`, async () => (await deps.store.registrations.list(a.extension, new Date())).length > 0);
        await waitFor(`${a.username} to be available`, async () => (await deps.store.agents.get(a.id))!.availability === 'available');
      }
      const { requestId, token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-xfer');
      const caller = callerArgs(cc, token);
      const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '12000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await phones[0]!.waitForEvent('anna to answer', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
      // She presses transfer at once: the REFER may come while the call is still being
      // connected on our side (bridge, record), and must not be lost.
      // Anna presses transfer and dials Ben's extension.
      const [host, port] = env.remote.split(':');
      const sent = await phones[0]!.command('transfer', `sip:${AGENTS.ben.extension}@${host}:${port}`);
      assert.equal(sent.ok, true, JSON.stringify(sent));
      await phones[1]!.waitForEvent('ben to answer', (e) => e.event === true && e.type === 'CALL_ESTABLISHED');
      const records = await waitFor('the customer bridged to Ben', async () => {
        const list = await deps.store.callRecords.list({ callRequestId: requestId });
        return list.some((r) => r.agentId === ben.id) ? list : null;
      });
      const counters = await waitFor(
        'RTP both ways between the customer and Ben',
        async () => {
          const channels = await fsChannels(fs);
          if (channels.length !== 2) return null;
          const c = await Promise.all(channels.map((ch) => rtpCounters((cmd) => fs.api(cmd), ch.uuid)));
          return c.every((x) => carriesAudio(x, 25)) ? (c as RtpCounters[]) : null;
        },
        20_000,
      );
      console.log(`      after the transfer to the TCP phone, RTP in/out per FreeSWITCH channel: ${counters.map((c) => `${c.inPackets}/${c.outPackets}`).join(', ')}`);
      console.log(`      REFER held while connecting: ${env.svc.logs.some((l) => l.includes('REFER sent while the call was being connected'))}`);
      assert.equal(records.find((r) => r.agentId === anna.id)!.outcome, 'transferred');
      assert.equal(records.find((r) => r.agentId === ben.id)!.verification, 'session');
      const customer = await call;
      assert.ok(received(customer, /^SIP\/2\.0 200/));
    } finally {
      for (const p of phones) await p.stop();
      for (const a of [AGENTS.anna, AGENTS.ben]) {
        await deps.store.registrations.removeAll(a.extension);
        await deskPhoneUnregistered(deps, a.extension);
      }
    }
  });
});
