/**
 * The media part of `npm run bench:sip` (BENCH_SIP_PARTS=media): how many customer calls the
 * service keeps bridged at once through FreeSWITCH with no failed call.
 *
 * Everything runs on 127.0.0.1: the drachtio-server of the run, a FreeSWITCH with the project's
 * freeswitch/ configuration, the whole service (SIP and media on, its real customer call
 * handler) on a throwaway PostgreSQL database, one sipp answering as every agent's desk phone
 * (180, 200, RTP echoed back), and one sipp as the customers' apps
 * (test/scenarios/bench-media-call.xml: INVITE with a real token and device proof, µ-law RTP
 * played for the whole call, BYE).
 *
 * For each level N (BENCH_SIP_MEDIA_LEVELS, default 25,50,100,150): N calls are placed at
 * BENCH_SIP_MEDIA_RATE calls/s, each to its own agent, and all N stay up together for
 * BENCH_SIP_MEDIA_HOLD seconds. Each call is verified, anchored in FreeSWITCH (the customer
 * hears hold music), rung to its agent's desk phone and bridged. While all are up the bench
 * reads the bridged calls from FreeSWITCH, RTP packet rates of a sample of channels (counters
 * read twice), and the CPU of each process. The levels stop at the first one with a failure.
 * The agents' desk phones are registered through the store (the registrar's digest login is
 * not what this measures).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { deskPhoneRegistered } from '../src/flows/desk-phone.js';
import { rtpCounters, type RtpCounters } from '../src/media/media-stats.js';
import type { DrachtioServer } from '../test/support/drachtio-server.js';
import { freePort } from '../test/support/drachtio-server.js';
import { freeswitchAvailable, startFreeswitch, type FreeswitchServer } from '../test/support/freeswitch-server.js';
import { writeUlawRtpPcap } from '../test/support/rtp-pcap.js';
import { startSippUas } from '../test/support/sipp.js';
import { openBenchDatabase, serverVersion } from './bench-database.js';
import { runLoadStep, type LoadResult } from './sip-load.js';
import { coresBetween, findPids, findPidsByEnv, loadAverage, sampleProcessCpu, type CoresByProcess, type ProcessCpuWatch } from './sip-process-cpu.js';
import { startSipBenchService } from './sip-service.js';
import { seedTokenSource } from './sip-tokens.js';
import { median, round } from './stats.js';

const TARGET_CONCURRENT = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MediaLevelResult {
  level: number;
  loadBefore: number;
  /** The customers' sipp: calls completed / failed, INVITE -> 200 OK (verified and anchored). */
  customers: Pick<LoadResult, 'calls' | 'successful' | 'failed' | 'setup' | 'sippCores'> & { errors: string };
  /** Most calls FreeSWITCH had bridged at once (sampled every second). */
  maxBridged: number;
  /** Calls the service connected to an agent (call records with an answer time). */
  connected: number;
  /** Packets per second per channel over the hold, in and out, for a sample of channels (50 expected). */
  rtp: { channels: number; inPpsMin: number | null; inPpsMedian: number | null; outPpsMin: number | null; outPpsMedian: number | null };
  /** CPU while all calls were up, in cores. */
  cores: CoresByProcess;
  /** Every call answered, connected to its agent and bridged at once, none failed. */
  ok: boolean;
  /** Every sampled channel received and sent at least 90 % of its 50 packets a second. */
  rtpClean: boolean;
}

async function bridgedCount(fs: FreeswitchServer): Promise<number> {
  try {
    const text = await fs.api('show bridged_calls count');
    const m = /(\d+)\s+total/.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function channelUuids(fs: FreeswitchServer): Promise<string[]> {
  const parsed = JSON.parse(await fs.api('show channels as json')) as { rows?: Array<{ uuid: string }> };
  return (parsed.rows ?? []).map((r) => r.uuid);
}

/** Median rounded to 0.1, or null for no values. */
function medianOrNull(values: number[]): number | null {
  return values.length ? round(median(values), 1) : null;
}

export async function runMediaBench(opts: { serverUrl: string; drachtio: DrachtioServer; say: (m: string) => void }): Promise<unknown> {
  const { drachtio } = opts;
  const say = (m: string) => opts.say(`media: ${m}`);
  const missing = freeswitchAvailable();
  if (missing) {
    say(`skipped: ${missing}`);
    return { skipped: missing };
  }
  const levels = (process.env.BENCH_SIP_MEDIA_LEVELS ?? '25,50,100,150')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
  const setupRate = Number(process.env.BENCH_SIP_MEDIA_RATE ?? 10);
  const holdS = Number(process.env.BENCH_SIP_MEDIA_HOLD ?? 20);
  const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
  const maxLevel = Math.max(...levels);
  const results: MediaLevelResult[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const out: Record<string, unknown> = { targetConcurrent: TARGET_CONCURRENT, levels, setupRate, holdSeconds: holdS, results };
  try {
    // Two legs per call and RTP + RTCP per leg: four ports a call, with room to spare.
    const rtpStart = 30_000 + 2 * randomInt(0, 5_000);
    const fs = await startFreeswitch({ env: { KNOCK_FS_RTP_START: String(rtpStart), KNOCK_FS_RTP_END: String(rtpStart + 8 * maxLevel + 200), KNOCK_FS_LOGLEVEL: 'warning' } });
    cleanups.push(() => fs.stop());
    const db = await openBenchDatabase({ kind: 'server', serverUrl: opts.serverUrl });
    cleanups.push(() => db.drop());
    out.database = await serverVersion(db.url);
    const watch: ProcessCpuWatch = { pids: new Map(), database: new URL(db.url).pathname.slice(1) };
    const drachtioPid = findPids(['drachtio', '--port', String(drachtio.adminPort)])[0];
    if (drachtioPid) watch.pids.set('drachtio', drachtioPid);
    // Other FreeSWITCH instances may be running: ours is the one started with our event socket port.
    const fsPid = findPidsByEnv('KNOCK_FS_ESL_PORT', String(fs.eslPort)).find((pid) => findPids(['freeswitch']).includes(pid));
    if (fsPid) watch.pids.set('freeswitch', fsPid);

    const bench = await startSipBenchService({
      databaseUrl: db.url,
      drachtio,
      freeswitch: { port: fs.eslPort, secret: fs.eslSecret },
      instanceName: 'bench-sip-media',
      logLevel,
    });
    cleanups.push(bench.stop);
    const { service } = bench;
    await service.customerCalls!.media.whenConnected(20_000);
    const deps = service.deps;

    // The desk phones: one sipp answers for every agent and echoes their RTP.
    const total = levels.reduce((a, b) => a + b, 0);
    const phones = await startSippUas({ scenario: 'desk-phone-answer', calls: total + 10, rtpEcho: true, traceMessages: false, timeoutMs: 3_600_000 });
    cleanups.push(async () => void (await phones.stop()));
    const phonesPid = findPids(['sipp', '-p', String(phones.port)])[0];
    if (phonesPid) watch.pids.set('sipp-phones', phonesPid);
    const tokens = await seedTokenSource(deps, { customers: Math.ceil(total / maxLevel) + 1, maxCalls: total, agents: maxLevel });
    const now = deps.clock();
    for (const a of tokens.agents) {
      const contact = `sip:${a.extension}@127.0.0.1:${phones.port}`;
      await deps.store.registrations.upsert(
        { extension: a.extension, contact, source: `udp/127.0.0.1:${phones.port}`, callId: `bench-${a.extension}`, cseq: 1, userAgent: 'sipp bench', expiresAt: new Date(now.getTime() + 3_600_000) },
        now,
      );
      await deskPhoneRegistered(deps, a.extension);
    }
    say(`FreeSWITCH up, ${tokens.agents.length} desk phones registered on one sipp (RTP echo)`);

    const workDir = mkdtempSync(join(tmpdir(), 'knock-bench-media-'));
    cleanups.push(async () => rmSync(workDir, { recursive: true, force: true }));
    const counter = new pg.Client({ connectionString: db.url });
    await counter.connect();
    cleanups.push(() => counter.end());

    for (const level of levels) {
      const rampS = level / setupRate;
      const callS = rampS + holdS;
      // Each call plays its own copy of the stream for as long as it lasts.
      const pcap = join(workDir, `customer-${level}.pcap`);
      writeUlawRtpPcap(pcap, Math.ceil(callS) + 2);
      const prefix = `knock-media-${randomBytes(4).toString('hex')}`;
      const lines = await tokens.issue(level, prefix);
      const since = new Date();
      const loadBefore = loadAverage()[0]!;
      let maxBridged = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          maxBridged = Math.max(maxBridged, await bridgedCount(fs));
          await sleep(1000);
        }
      })();
      const load = runLoadStep({
        rate: setupRate,
        seconds: rampS,
        tokens: lines,
        callIdPrefix: prefix,
        remote: `127.0.0.1:${drachtio.sipPort}`,
        scenario: 'bench-media-call.xml',
        // -d: how long each call stays after its answer; the last call is placed at the end of the ramp.
        extraArgs: ['-d', String(Math.round(callS * 1000)), '-key', 'pcap', pcap],
        limit: level,
        holdSeconds: callS + 10,
      });
      // Measure while every call is up: from shortly after the last one is placed to shortly
      // before the first one hangs up.
      await sleep((rampS + 3) * 1000);
      const c0 = sampleProcessCpu(watch);
      const uuids = (await channelUuids(fs)).sort(() => Math.random() - 0.5).slice(0, 20);
      // Each channel's counters are read twice, each read timed, so the rate is per channel.
      const first = new Map<string, { at: number; c: RtpCounters | null }>();
      for (const u of uuids) first.set(u, { c: await rtpCounters((c) => fs.api(c), u).catch(() => null), at: performance.now() });
      await sleep(Math.max(2, holdS - 8) * 1000);
      const c1 = sampleProcessCpu(watch);
      const inPps: number[] = [];
      const outPps: number[] = [];
      for (const u of uuids) {
        const a = first.get(u)!;
        const b = await rtpCounters((c) => fs.api(c), u).catch(() => null);
        const dt = (performance.now() - a.at) / 1000;
        if (!a.c || !b) continue;
        inPps.push((b.inPackets - a.c.inPackets) / dt);
        outPps.push((b.outPackets - a.c.outPackets) / dt);
      }
      const r = await load;
      sampling = false;
      await sampler;
      // Let the hang-ups finish before counting and before the next level.
      for (let i = 0; i < 30 && (await bridgedCount(fs)) > 0; i++) await sleep(1000);
      await sleep(2000);
      const connected = Number(
        (await counter.query<{ n: string }>('SELECT count(*) AS n FROM call_records WHERE answered_at IS NOT NULL AND started_at >= $1', [since])).rows[0]!.n,
      );
      const result: MediaLevelResult = {
        level,
        loadBefore,
        customers: { calls: r.calls, successful: r.successful, failed: r.failed, setup: r.setup, sippCores: r.sippCores, errors: r.errors.slice(-800) },
        maxBridged,
        connected,
        rtp: {
          channels: inPps.length,
          inPpsMin: inPps.length ? round(Math.min(...inPps), 1) : null,
          inPpsMedian: medianOrNull(inPps),
          outPpsMin: outPps.length ? round(Math.min(...outPps), 1) : null,
          outPpsMedian: medianOrNull(outPps),
        },
        cores: coresBetween(c0, c1),
        ok: r.failed === 0 && r.successful === level && connected === level && maxBridged >= level,
        rtpClean: inPps.length > 0 && Math.min(...inPps, ...outPps) >= 45,
      };
      results.push(result);
      const cores = Object.entries(result.cores)
        .map(([k, v]) => `${k} ${v ?? '-'}`)
        .join(', ');
      say(
        `${String(level).padStart(4)} calls: ${r.successful}/${r.calls} ok ${r.failed} failed, ${connected} connected to agents, ${maxBridged} bridged at once; ` +
          `setup (INVITE -> 200, anchored) p50/p99 ${r.setup.p50Ms}/${r.setup.p99Ms} ms; RTP pps per channel in ${result.rtp.inPpsMedian ?? '-'} (min ${result.rtp.inPpsMin ?? '-'}) out ${result.rtp.outPpsMedian ?? '-'} (min ${result.rtp.outPpsMin ?? '-'}) of 50 over ${result.rtp.channels} channels; ${result.rtpClean ? '' : ' (RTP below 90 %)'}; ` +
          `load ${loadBefore}; cores: ${cores}, sipp ${r.sippCores ?? '-'}`,
      );
      if (r.errors) say(`sipp errors (tail):\n${r.errors.slice(-800)}`);
      if (!result.ok) break;
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => say(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
  }
  const best = results.filter((r) => r.ok).reduce((a, b) => Math.max(a, b.level), 0);
  const clean = results.filter((r) => r.ok && r.rtpClean).reduce((a, b) => Math.max(a, b.level), 0);
  say(`highest level with every call bridged and none failed: ${best || 'none'} (target >= ${TARGET_CONCURRENT}); with RTP at >= 90 % of 50 packets/s on every sampled channel: ${clean || 'none'}`);
  out.highestOkLevel = best || null;
  out.highestCleanRtpLevel = clean || null;
  return out;
}
