/**
 * A real softphone as the agent's desk phone (baresip, answering by itself, speaking a tone from
 * a WAV file), with the default configuration, on real drachtio-server and FreeSWITCH: it
 * registers with digest over UDP and over TCP, and a verified customer call (sipp as the app)
 * is answered on each transport with audio both ways.
 */
import assert from 'node:assert/strict';
import { rtpCounters, type RtpCounters } from '../../src/media/media-stats.js';
import { baresipAvailable, startBaresip, type Baresip } from '../support/baresip.js';
import { AGENTS, callCenterSkipReason, carriesAudio, fsChannels, received, useCallCenter } from '../support/call-center.js';
import { runSipp } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

describe('a softphone as the desk phone (baresip + drachtio-server + FreeSWITCH)', function () {
  this.timeout(90_000);
  const center = useCallCenter({
    agents: [AGENTS.anna],
    registerPhones: false,
    alsoNeeds: () => callCenterSkipReason() ?? (baresipAvailable() ? `baresip tests skipped: ${baresipAvailable()}` : null),
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`registers over ${transport.toUpperCase()} and answers a verified customer call with audio both ways`, async () => {
      const { fs, env, deps, cc, pcap } = center();
      const anna = cc.agents.anna!;
      let phone: Baresip | null = null;
      try {
        phone = await startBaresip({ user: AGENTS.anna.extension, password: DESK_PHONE_PASSWORD, registrar: env.remote, transport });
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
      }
    });
  }
});
