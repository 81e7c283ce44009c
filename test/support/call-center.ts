/**
 * Everything a customer-call suite runs against: a real FreeSWITCH (freeswitch/ config), a real
 * drachtio-server, the whole service connected to both, a contact center (group, agents, an
 * enrolled customer) and the agents' desk phones registered through the registrar with digest.
 * Plus helpers to read sipp's message trace and FreeSWITCH's channels.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallbackMode } from '../../src/domain/call-request.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import type { RtpCounters } from '../../src/media/media-stats.js';
import { freePort } from './drachtio-server.js';
import { freeswitchAvailable, startFreeswitch, type FreeswitchServer } from './freeswitch-server.js';
import { writeUlawRtpPcap } from './rtp-pcap.js';
import { sipSkipReason, startSipTestEnv, type SipTestEnv } from './sip-test-env.js';
import { skipWhenMissing } from './skip-when-missing.js';
import { runSipp, type SippResult } from './sipp.js';
import { DESK_PHONE_PASSWORD, setUpContactCenter, type ContactCenter } from './verified-customer.js';
import { waitFor } from './wait-for.js';

/** The one line a suite prints when drachtio-server, FreeSWITCH or sipp is missing. */
export function callCenterSkipReason(): string | null {
  const sip = sipSkipReason();
  if (sip) return sip;
  const fs = freeswitchAvailable();
  return fs ? `SIP tests skipped: ${fs}` : null;
}

export interface CallCenter {
  fs: FreeswitchServer;
  env: SipTestEnv;
  deps: FlowDeps;
  cc: ContactCenter;
  /** The UDP port each extension's desk phone registered (start its sipp there). */
  phonePort: Record<string, number>;
  /** A pcap of µ-law RTP for the customer's sipp to speak. */
  pcap: string;
  pcapPackets: number;
  stop(): Promise<void>;
}

/** The agents the call-center suites set up, each with a desk phone on their extension. */
export const AGENTS = {
  anna: { username: 'anna', name: 'Anna Agent', extension: '1001' },
  ben: { username: 'ben', name: 'Ben Agent', extension: '1002' },
  carl: { username: 'carl', name: 'Carl Agent', extension: '1003' },
};

export interface CallCenterOptions {
  agents: Array<{ username: string; name: string; extension: string }>;
  callbackMode?: CallbackMode;
  env?: Record<string, string>;
  /** Register a sipp desk phone for each agent and wait for them to be available (default true). */
  registerPhones?: boolean;
  /** drachtio-server options (e.g. TLS). */
  drachtio?: Parameters<typeof startSipTestEnv>[1];
}

/**
 * A call center for the suite: skipped when the servers are missing (or `alsoNeeds` names
 * something else missing), started before its tests, stopped after them. Read it through the
 * returned function inside hooks and tests.
 */
export function useCallCenter(opts: CallCenterOptions & { alsoNeeds?: () => string | null }): () => CallCenter {
  const { alsoNeeds, ...options } = opts;
  let center: CallCenter | undefined;
  before(async function () {
    skipWhenMissing(this, alsoNeeds?.() ?? callCenterSkipReason());
    center = await startCallCenter(options);
  });
  after(async function () {
    await center?.stop();
  });
  return () => {
    if (!center) throw new Error('the call center has not started');
    return center;
  };
}

export async function startCallCenter(opts: CallCenterOptions): Promise<CallCenter> {
  const workDir = mkdtempSync(join(tmpdir(), 'knock-call-center-'));
  const pcap = join(workDir, 'customer.pcap');
  const pcapPackets = writeUlawRtpPcap(pcap, 4);
  const fs = await startFreeswitch();
  let env: SipTestEnv;
  try {
    env = await startSipTestEnv({
      KNOCK_MEDIA__FREESWITCH__PORT: String(fs.eslPort),
      KNOCK_MEDIA__FREESWITCH__SECRET: fs.eslSecret,
      KNOCK_SIP__AGENT_RING_SECONDS: '3',
      KNOCK_MEDIA__QUEUE_RETRY_SECONDS: '1',
      ...opts.env,
    }, opts.drachtio ?? {});
  } catch (e) {
    await fs.stop();
    throw e;
  }
  const stop = async () => {
    await env.stop();
    await fs.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const deps = env.svc.service.deps;
    await env.svc.service.customerCalls!.media.whenConnected(20_000);
    const cc = await setUpContactCenter(env.svc, { agents: opts.agents, ...(opts.callbackMode ? { callbackMode: opts.callbackMode } : {}) });
    const phonePort: Record<string, number> = {};
    for (const a of opts.registerPhones === false ? [] : opts.agents) {
      const port = await freePort({ udp: true });
      phonePort[a.extension] = port;
      await runSipp({
        scenario: 'register-ok',
        remote: env.remote,
        localPort: port,
        timeoutMs: 10_000,
        vars: { user: a.extension, expires: '600' },
        extraArgs: ['-au', a.extension, '-ap', DESK_PHONE_PASSWORD],
      });
    }
    for (const a of opts.registerPhones === false ? [] : Object.values(cc.agents)) {
      await waitFor(`${a.username} to be available`, async () => (await deps.store.agents.get(a.id))!.availability === 'available');
    }
    return { fs, env, deps, cc, phonePort, pcap, pcapPackets, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The SIP messages in sipp's trace, one entry each. */
export function sippMessages(r: SippResult): string[] {
  return r.messages.split(/-{20,}[^\n]*\n/).filter((m) => m.trim());
}

/** The first message sipp received whose start line matches. */
export function received(r: SippResult, startLine: RegExp): string {
  const hit = sippMessages(r).find(
    (m) => /message received/.test(m) && startLine.test(m.split('\n').find((l) => /^(SIP\/2\.0 |[A-Z]+ sips?:)/.test(l)) ?? ''),
  );
  if (!hit) throw new Error(`sipp received no message matching ${startLine}\n${r.messages.slice(-3000)}`);
  return hit;
}

/** Every message sipp received whose start line matches. */
export function allReceived(r: SippResult, startLine: RegExp): string[] {
  return sippMessages(r).filter(
    (m) => /message received/.test(m) && startLine.test(m.split('\n').find((l) => /^(SIP\/2\.0 |[A-Z]+ sips?:)/.test(l)) ?? ''),
  );
}

/**
 * The INVITE ringing the next agent after a transfer: the customer is verified through the
 * session (no new authentication) and named, and none of their credentials is passed on.
 */
export function assertToldVerifiedThroughSession(invite: string, sessionId: string): void {
  assert.match(invite, /^X-Knock-Verified: biometric; at=[^;]+; via=session/im);
  assert.match(invite, new RegExp(`^Session-ID: ${sessionId};`, 'im'));
  assert.match(invite, /^P-Asserted-Identity: "Chris Customer"/im);
  assert.doesNotMatch(invite, /Authorization|Bearer|Knock-Device-Proof/i);
}

export async function fsChannels(fs: FreeswitchServer): Promise<Array<{ uuid: string; name: string }>> {
  const parsed = JSON.parse(await fs.api('show channels as json')) as { rows?: Array<{ uuid: string; name: string }> };
  return parsed.rows ?? [];
}

/**
 * True when a channel both received and sent at least `packets` packets of audio. Bytes are
 * checked too: FreeSWITCH counts packets it could not decrypt or decode, not their bytes.
 */
export function carriesAudio(c: RtpCounters | null, packets: number): boolean {
  return !!c && c.inPackets >= packets && c.outPackets >= packets && c.inBytes >= packets * 160 && c.outBytes >= packets * 160;
}
