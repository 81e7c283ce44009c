/**
 * `npm run bench:sip`: customer calls per second with the token check, against the ceiling of a
 * bare drachtio-srf application on the same drachtio-server, in the same run, at the same rates.
 *
 * Everything runs on 127.0.0.1: a drachtio-server, sipp (UDP), and in this process either
 *   1. the service (`startService`, SIP on, jobs on, logs at info thrown away) on a throwaway
 *      PostgreSQL database, its customer call handler replaced by bench/sip-signalling-handler.ts
 *      (the real token check, then 200 without FreeSWITCH: signalling only), with real tokens
 *      issued through the store just before each step; then
 *   2. bench/sip-bare-uas.ts (answers 200 at once) with the same tokens in the same INVITEs.
 * Each rate of the ladder runs for BENCH_SIP_SECONDS; the highest rate with every call
 * completed and at least 95 % of the offered rate achieved is the sustained rate.
 *
 * Environment: DATABASE_URL or TEST_DATABASE_URL (a PostgreSQL server; a database is created and
 * dropped), BENCH_SIP_RATES=25,50,75,100,125,150,200,400  BENCH_SIP_SECONDS=8  BENCH_LOG_LEVEL=info
 * BENCH_SIP_OUT (default ./bench-sip-results.json).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/load-config.js';
import { startService } from '../src/service.js';
import { drachtioAvailable, freePort, startDrachtio } from '../test/support/drachtio-server.js';
import { sippAvailable } from '../test/support/sipp.js';
import { openBenchDatabase, serverVersion } from './bench-database.js';
import { machineInfo } from './machine.js';
import { startBareUas } from './sip-bare-uas.js';
import { runLoadStep, type LoadResult } from './sip-load.js';
import { signallingOnlyHandler, type SignallingCounters } from './sip-signalling-handler.js';
import { seedTokenSource } from './sip-tokens.js';
import { round, summarize, type LatencySummary } from './stats.js';

const TARGETS = { ratioPercent: 50, addedP99Ms: 10 };

const rates = (process.env.BENCH_SIP_RATES ?? '25,50,75,100,125,150,200,400')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0);
const seconds = Number(process.env.BENCH_SIP_SECONDS ?? 8);
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
const say = (msg: string) => process.stdout.write(`[sip] ${msg}\n`);

function sustained(results: StepResult[]): StepResult | null {
  const ok = results.filter((r) => r.failed === 0 && r.successful === r.calls && r.achievedPerSecond >= 0.95 * r.offeredPerSecond);
  return ok.length ? ok.reduce((a, b) => (b.offeredPerSecond > a.offeredPerSecond ? b : a)) : null;
}

/** A load step's sipp figures plus the answerer's own INVITE -> 200 times. */
type StepResult = LoadResult & { answer: LatencySummary };

function line(label: string, r: StepResult): string {
  return `${label.padEnd(5)} ${String(r.offeredPerSecond).padStart(5)}/s offered  ${String(r.achievedPerSecond).padStart(6)}/s achieved  ${r.successful}/${r.calls} ok  ${r.failed} failed  sipp setup p50 ${r.setup.p50Ms} p99 ${r.setup.p99Ms} max ${r.setup.maxMs} ms  answerer p50 ${r.answer.p50Ms} p99 ${r.answer.p99Ms} max ${r.answer.maxMs} ms`;
}

async function step(run: () => Promise<LoadResult>, samples: number[]): Promise<StepResult> {
  const from = samples.length;
  const r = await run();
  return { ...r, answer: summarize(samples.slice(from)) };
}

async function main(): Promise<void> {
  const missing = drachtioAvailable() ?? sippAvailable();
  if (missing) {
    say(`skipped: ${missing}`);
    return;
  }
  const serverUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('set DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server');
  const machine = machineInfo();
  say(`${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, node ${machine.node}, load ${machine.loadAverage.join(' ')}`);
  const started = Date.now();
  const cleanups: Array<() => Promise<void>> = [];
  const app: StepResult[] = [];
  const bare: StepResult[] = [];
  const counters: SignallingCounters = { admitted: 0, refused: {}, endErrors: 0, endErrorSamples: [], answerMs: [] };
  const tokensByRate: Array<{ lines: string[]; callIdPrefix: string }> = [];
  let database = '';
  try {
    const drachtio = await startDrachtio();
    cleanups.push(() => drachtio.stop());
    const remote = `127.0.0.1:${drachtio.sipPort}`;
    const db = await openBenchDatabase({ kind: 'server', serverUrl });
    cleanups.push(() => db.drop());
    database = await serverVersion(db.url);

    // 1. The service with the real token check, media replaced by an immediate 200.
    const devNull = openSync('/dev/null', 'w');
    cleanups.push(async () => closeSync(devNull));
    const config = loadConfig({
      DATABASE_URL: db.url,
      KNOCK_SERVER__PORT: '0',
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
      LOG_LEVEL: logLevel,
      KNOCK_SIP__ENABLED: 'true',
      KNOCK_SIP__DRACHTIO__HOST: drachtio.host,
      KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
      KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
      // No FreeSWITCH is used; point its socket at a closed loopback port.
      KNOCK_MEDIA__FREESWITCH__PORT: String(await freePort()),
    });
    const logger = pino({ level: logLevel }, pino.destination({ dest: devNull, sync: false, minLength: 8192 }));
    const service = await startService(config, { logger, instanceName: 'bench-sip' });
    let serviceStopped = false;
    const stopService = async () => {
      if (!serviceStopped) await service.stop();
      serviceStopped = true;
    };
    cleanups.push(stopService);
    const sip = service.sip!;
    for (let i = 0; i < 150 && !sip.isConnected(); i++) await new Promise((r) => setTimeout(r, 100));
    if (!sip.isConnected()) throw new Error('the service did not connect to drachtio-server');
    sip.onCustomerInvite(signallingOnlyHandler(service.deps, sip.srf, logger, counters));

    const perStep = rates.map((r) => Math.round(r * seconds));
    const tokens = await seedTokenSource(service.deps, { customers: 200, maxCalls: perStep.reduce((a, b) => a + b, 0) });
    for (const [i, rate] of rates.entries()) {
      const t0 = Date.now();
      const callIdPrefix = `knock-bench-${randomBytes(4).toString('hex')}`;
      const batch = await tokens.issue(perStep[i]!, callIdPrefix);
      tokensByRate.push({ lines: batch, callIdPrefix });
      say(`app: issued ${batch.length} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const r = await step(() => runLoadStep({ rate, seconds, tokens: batch, callIdPrefix, remote }), counters.answerMs);
      app.push(r);
      say(line('app', r));
      if (r.errors) say(`app: sipp errors (tail):\n${r.errors.slice(-800)}`);
      // Let the BYE handling of the step drain before the next one.
      await new Promise((res) => setTimeout(res, 1500));
    }
    await stopService();

    // 2. The ceiling: a bare drachtio-srf application on the same drachtio-server.
    const uas = await startBareUas({ host: drachtio.host, port: drachtio.adminPort, secret: drachtio.secret });
    cleanups.push(() => uas.stop());
    for (const [i, rate] of rates.entries()) {
      const r = await step(() => runLoadStep({ rate, seconds, tokens: tokensByRate[i]!.lines, callIdPrefix: tokensByRate[i]!.callIdPrefix, remote }), uas.answerMs);
      bare.push(r);
      say(line('bare', r));
      if (r.errors) say(`bare: sipp errors (tail):\n${r.errors.slice(-800)}`);
      await new Promise((res) => setTimeout(res, 1500));
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => say(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
  }

  const appBest = sustained(app);
  const bareBest = sustained(bare);
  const ratio = appBest && bareBest ? round((100 * appBest.achievedPerSecond) / bareBest.achievedPerSecond, 1) : null;
  const added = app.map((a, i) => {
    const b = bare[i];
    return {
      rate: a.offeredPerSecond,
      // sipp's view (±4 ms) and the answerers' own clocks (sub-millisecond).
      sippAddedP50Ms: b ? round(a.setup.p50Ms - b.setup.p50Ms, 2) : null,
      sippAddedP99Ms: b ? round(a.setup.p99Ms - b.setup.p99Ms, 2) : null,
      answererAddedP50Ms: b ? round(a.answer.p50Ms - b.answer.p50Ms, 2) : null,
      answererAddedP99Ms: b ? round(a.answer.p99Ms - b.answer.p99Ms, 2) : null,
    };
  });
  say(`sustained: app ${appBest?.offeredPerSecond ?? 'none'}/s, bare ${bareBest?.offeredPerSecond ?? 'none'}/s (highest rate with 0 failed and >= 95 % achieved; the ladder tops out at ${Math.max(...rates)}/s)`);
  say(`ratio: ${ratio ?? '-'} % (target >= ${TARGETS.ratioPercent} %)`);
  for (const a of added) {
    say(`added setup latency at ${a.rate}/s: sipp p50 ${a.sippAddedP50Ms} p99 ${a.sippAddedP99Ms} ms; answerer p50 ${a.answererAddedP50Ms} p99 ${a.answererAddedP99Ms} ms (target p99 <= ${TARGETS.addedP99Ms} ms)`);
  }
  say(`token check: ${counters.admitted} admitted, refused ${JSON.stringify(counters.refused)}, callEnded errors ${counters.endErrors} ${JSON.stringify(counters.endErrorSamples)}`);
  say(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const out = resolve(process.env.BENCH_SIP_OUT ?? 'bench-sip-results.json');
  writeFileSync(out, `${JSON.stringify({ machine, database, seconds, rates, targets: TARGETS, app, bare, sustained: { app: appBest?.offeredPerSecond ?? null, bare: bareBest?.offeredPerSecond ?? null, ratioPercent: ratio }, added, counters: { ...counters, answerMs: undefined } }, null, 2)}\n`);
  say(`figures written to ${out}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
