/**
 * `npm run bench:sip`: customer calls per second with the token check, against the ceiling of a
 * bare drachtio-srf application on the same drachtio-server, in the same run, at the same rates;
 * and, with BENCH_SIP_PARTS=media, concurrent customer calls bridged to agents through
 * FreeSWITCH (bench/sip-media.ts).
 *
 * Everything runs on 127.0.0.1: a drachtio-server (log level notice: at info it logs every SIP
 * message, which costs more CPU than the calls), sipp (UDP, test/scenarios/bench-call.xml), and
 * in this process the service (`startService`, SIP on, jobs on, logs at info thrown away) on a
 * throwaway PostgreSQL database. Two handlers take turns on its INVITE router, rate by rate, so
 * both see the same machine load:
 *   app   bench/sip-signalling-handler.ts: the real token check (admitCustomerCall), then 200
 *         without FreeSWITCH (signalling only), with real tokens issued just before each step;
 *   bare  the ceiling: answers 200 at once, no token check, no database (sip-bare-uas.ts), same
 *         INVITEs from the same scenario.
 * `bare-process` (not by default) measures the ceiling once more as a separate drachtio-srf
 * application in its own process, after the service has stopped.
 * Each phase climbs the same ladder of rates (BENCH_SIP_SECONDS each), drops out after two steps
 * in a row it did not sustain, and then bisects between its best sustained rate and the first
 * one it missed (BENCH_SIP_REFINE steps). A rate is sustained when every call completed, none
 * failed, at least 95 % of the offered rate was achieved and the p99 setup time stayed within
 * BENCH_SIP_MAX_P99_MS (100).
 *
 * Environment: DATABASE_URL or TEST_DATABASE_URL (a PostgreSQL server; a database is created and
 * dropped), BENCH_SIP_PARTS=app,bare (also bare-process; `media` for the FreeSWITCH part),
 * BENCH_SIP_RATES=25,50,100,150,200,300,400,600,800,1000,1200  BENCH_SIP_SECONDS=8  BENCH_SIP_REFINE=2
 * BENCH_SIP_TALLY=1 (statements by text, per call)  BENCH_SIP_CPU_PROF=<dir> (a V8 profile of each step)
 * BENCH_PROFILE=<dir> (the profiles flag: a V8 profile of each step, and pg_stat_statements per
 * call for each app step when the server has the extension loaded)
 * BENCH_LOG_LEVEL=info
 * BENCH_SIP_OUT or BENCH_OUT (default ./bench-sip-results.json).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { drachtioAvailable, freePort, startDrachtio, type DrachtioServer } from '../test/support/drachtio-server.js';
import { sippAvailable } from '../test/support/sipp.js';
import { openBenchDatabase, serverVersion } from './bench-database.js';
import { machineInfo } from './machine.js';
import { installQueryCounter, queriesSoFar, takeStatementTally } from './query-counter.js';
import { bareInviteHandler, startBareUas } from './sip-bare-uas.js';
import { runLoadStep, type LoadResult } from './sip-load.js';
import { startCpuProfile } from './sip-cpu-profile.js';
import { runMediaBench } from './sip-media.js';
import { startSipBenchService } from './sip-service.js';
import { coresBetween, findPids, loadAverage, sampleProcessCpu, type CoresByProcess, type ProcessCpuWatch } from './sip-process-cpu.js';
import { signallingOnlyHandler, type SignallingCounters } from './sip-signalling-handler.js';
import { seedTokenSource } from './sip-tokens.js';
import { round, summarize, type LatencySummary } from './stats.js';
import { prepareStatementStats, startStatementWindow, type StatementWindow } from './pg-statements.js';
import { atLeastRatio, atMostRatio, atMostValue, exitStatus, figure, figuresTable, type Figure } from './figures.js';

/**
 * The product's goals: CPU per verified call within 1.5x of the bare answer's; added p99 setup
 * within 10 ms at every rate up to 80 % of the service's own ceiling; bridged calls with clean
 * audio at least 90 % of what FreeSWITCH alone bridges here.
 */
const TARGETS = { ratioPercent: 50, addedP99Ms: 10, cpuPerCallOfBare: 1.5, addedUpToShareOfCeiling: 0.8, mediaShareOfBare: 0.9 };

const parts = new Set((process.env.BENCH_SIP_PARTS ?? 'app,bare,media').split(',').map((s) => s.trim()));
const rates = (process.env.BENCH_SIP_RATES ?? '25,50,100,150,200,300,400,600,800,1000,1200')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);
const seconds = Number(process.env.BENCH_SIP_SECONDS ?? 8);
const refineSteps = Number(process.env.BENCH_SIP_REFINE ?? 2);
const tally = process.env.BENCH_SIP_TALLY === '1';
const maxP99Ms = Number(process.env.BENCH_SIP_MAX_P99_MS ?? 100);
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
const say = (msg: string) => process.stdout.write(`[sip] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A load step's sipp figures plus the answerer's own INVITE -> 200 times and the machine's state. */
type StepResult = LoadResult & {
  answer: LatencySummary;
  /** 1-minute load average just before the step. */
  loadBefore: number;
  cores: CoresByProcess;
  /** SQL statements per completed call (app only; admission, BYE handling and the job poller). */
  statementsPerCall?: number;
  statementTally?: Record<string, number>;
  /** pg_stat_statements over the step, per call (BENCH_PROFILE). */
  statements?: Awaited<ReturnType<StatementWindow['read']>>;
};

/**
 * Sustained: every call completed, none failed, at least 95 % of the offered rate achieved, and
 * no standing queue: the customers' p99 INVITE -> 200 OK (sipp's view) within maxP99Ms. Without
 * that last condition a rate the application only keeps up with by queueing for seconds would
 * count.
 */
function isSustained(r: StepResult): boolean {
  return r.failed === 0 && r.successful === r.calls && r.achievedPerSecond >= 0.95 * r.offeredPerSecond && r.setup.p99Ms <= maxP99Ms;
}

function best(results: StepResult[]): StepResult | null {
  const ok = results.filter(isSustained);
  return ok.length ? ok.reduce((a, b) => (b.offeredPerSecond > a.offeredPerSecond ? b : a)) : null;
}

function line(label: string, r: StepResult): string {
  const cores = Object.entries(r.cores)
    .map(([k, v]) => `${k} ${v ?? '-'}`)
    .join(', ');
  return (
    `${label.padEnd(5)} ${String(r.offeredPerSecond).padStart(4)}/s offered ${String(r.achievedPerSecond).padStart(6)}/s achieved  ` +
    `${r.successful}/${r.calls} ok ${r.failed} failed  setup sipp p50/p99 ${r.setup.p50Ms}/${r.setup.p99Ms} ms, answerer ${r.answer.p50Ms}/${r.answer.p99Ms} ms  ` +
    `load ${r.loadBefore}  cores: ${cores}, sipp ${r.sippCores ?? '-'}${r.statementsPerCall !== undefined ? `  ${r.statementsPerCall} SQL/call` : ''}`
  );
}

interface Phase {
  name: string;
  run(rate: number): Promise<StepResult>;
  results: StepResult[];
}

/**
 * Climbs the ladder with every phase, one rate at a time (phase after phase at each rate, so they
 * see the same machine load); a phase drops out after two steps in a row it did not sustain.
 * Then each phase bisects between its best sustained rate and the first one it missed.
 */
async function climb(phases: Phase[]): Promise<void> {
  const misses = new Map(phases.map((p) => [p.name, 0]));
  for (const rate of rates) {
    const active = phases.filter((p) => misses.get(p.name)! < 2);
    if (!active.length) break;
    for (const p of active) {
      const r = await p.run(rate);
      p.results.push(r);
      misses.set(p.name, isSustained(r) ? 0 : misses.get(p.name)! + 1);
    }
  }
  for (const p of phases) {
    for (let i = 0; i < refineSteps; i++) {
      const ok = best(p.results)?.offeredPerSecond ?? 0;
      const missed = p.results.filter((r) => !isSustained(r) && r.offeredPerSecond > ok).map((r) => r.offeredPerSecond);
      if (!missed.length) break;
      const mid = Math.round((ok + Math.min(...missed)) / 2 / 5) * 5;
      if (mid <= ok || mid >= Math.min(...missed) || p.results.some((r) => r.offeredPerSecond === mid)) break;
      p.results.push(await p.run(mid));
    }
  }
}

async function signallingParts(serverUrl: string, drachtio: DrachtioServer, out: Record<string, unknown>): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  const app: StepResult[] = [];
  const bare: StepResult[] = [];
  const bareProcess: StepResult[] = [];
  const counters: SignallingCounters = { admitted: 0, ended: 0, refused: {}, endErrors: 0, endErrorSamples: [], answerMs: [] };
  const remote = `127.0.0.1:${drachtio.sipPort}`;
  const watch: ProcessCpuWatch = { pids: new Map(), database: null };
  const drachtioPid = findPids(['drachtio', '--port', String(drachtio.adminPort)])[0];
  if (drachtioPid) watch.pids.set('drachtio', drachtioPid);
  // Token lines for the bare phase, which checks nothing: the app's, so the INVITEs are alike.
  let sampleLines: string[] = [];
  try {
    const db = await openBenchDatabase({ kind: 'server', serverUrl });
    cleanups.push(() => db.drop());
    out.database = await serverVersion(db.url);
    watch.database = new URL(db.url).pathname.slice(1);
    const statementStats = process.env.BENCH_PROFILE ? await prepareStatementStats(db.url) : null;

    const measured = async (rate: number, lines: string[], callIdPrefix: string, samples: number[], count: boolean): Promise<StepResult> => {
      const loadBefore = loadAverage()[0]!;
      const from = samples.length;
      const q0 = queriesSoFar();
      if (count) takeStatementTally();
      const profiler = process.env.BENCH_SIP_CPU_PROF || process.env.BENCH_PROFILE ? await startCpuProfile() : null;
      const statementWindow = count && process.env.BENCH_PROFILE ? await startStatementWindow(db.url, statementStats) : null;
      const c0 = sampleProcessCpu(watch);
      const r = await runLoadStep({ rate, seconds, tokens: lines, callIdPrefix, remote });
      const c1 = sampleProcessCpu(watch);
      if (profiler) say(`cpu profile: ${await profiler.stop(`sip-${count ? 'app' : 'bare'}-${rate}`)}`);
      const result: StepResult = { ...r, answer: summarize(samples.slice(from)), loadBefore, cores: coresBetween(c0, c1) };
      if (count) {
        // Let the step's BYE handling finish so its statements are counted with it.
        for (let i = 0; i < 200 && counters.ended < counters.admitted; i++) await sleep(100);
        result.statementsPerCall = round((queriesSoFar() - q0) / Math.max(1, r.successful), 1);
        if (statementWindow) result.statements = await statementWindow.read(r.successful);
        if (tally) {
          const t = takeStatementTally();
          result.statementTally = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v / Math.max(1, r.successful), 2)]));
        }
      }
      return result;
    };

    // The service, with SIP on and media replaced: the token-checked handler (app) and the bare
    // answer (the ceiling) take turns on its INVITE router, rate by rate.
    installQueryCounter({ byText: tally });
    // No FreeSWITCH is used; its socket points at a closed loopback port.
    const bench = await startSipBenchService({
      databaseUrl: db.url,
      drachtio,
      freeswitch: { port: await freePort() },
      instanceName: 'bench-sip',
      logLevel,
    });
    cleanups.push(bench.stop);
    const { service, sip, logger } = bench;
    const tokenChecked = signallingOnlyHandler(service.deps, sip.srf, logger, counters);
    const bareAnswerMs: number[] = [];
    const bareAnswer = bareInviteHandler(sip.srf, bareAnswerMs);

    // Enough (customer, agent) pairs for the whole ladder plus the refinement steps.
    const maxCalls = Math.round((rates.reduce((a, b) => a + b, 0) + refineSteps * Math.max(...rates)) * seconds) + 100;
    const tokens = parts.has('app') ? await seedTokenSource(service.deps, { customers: 200, maxCalls }) : null;
    const barePhase = (name: string, samples: number[]) => async (rate: number) => {
      if (!sampleLines.length) {
        // Without the app phase: token-sized filler with the same shape.
        sampleLines = [`${'a'.repeat(40)}.${'b'.repeat(560)}.${'c'.repeat(86)};${'d'.repeat(86)}`];
      }
      const n = Math.round(rate * seconds);
      const lines = Array.from({ length: n }, (_, i) => sampleLines[i % sampleLines.length]!);
      const r = await measured(rate, lines, `knock-bare-${randomBytes(4).toString('hex')}`, samples, false);
      say(line(name, r));
      if (r.errors) say(`${name}: sipp errors (tail):\n${r.errors.slice(-800)}`);
      await sleep(1500);
      return r;
    };
    const phases: Phase[] = [];
    if (tokens) {
      phases.push({
        name: 'app',
        results: app,
        async run(rate) {
          const t0 = Date.now();
          const callIdPrefix = `knock-bench-${randomBytes(4).toString('hex')}`;
          const lines = await tokens.issue(Math.round(rate * seconds), callIdPrefix);
          sampleLines = lines;
          say(`app: issued ${lines.length} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          sip.onCustomerInvite(tokenChecked);
          const r = await measured(rate, lines, callIdPrefix, counters.answerMs, true);
          say(line('app', r));
          if (r.errors) say(`app: sipp errors (tail):\n${r.errors.slice(-800)}`);
          if (r.statementTally) say(`app: statements per call ${JSON.stringify(r.statementTally)}`);
          await sleep(1500);
          return r;
        },
      });
    }
    if (parts.has('bare')) {
      const run = barePhase('bare', bareAnswerMs);
      phases.push({
        name: 'bare',
        results: bare,
        async run(rate) {
          sip.onCustomerInvite(bareAnswer);
          return run(rate);
        },
      });
    }
    await climb(phases);
    await bench.stop();

    if (parts.has('bare-process')) {
      // The ceiling again, as a separate drachtio-srf application (its own process and
      // connection) once the service has gone: after the other phases, so at another moment.
      const uas = await startBareUas({ host: drachtio.host, port: drachtio.adminPort, secret: drachtio.secret });
      cleanups.push(() => uas.stop());
      await climb([{ name: 'bare-process', results: bareProcess, run: barePhase('bproc', uas.answerMs) }]);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => say(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
  }

  const appBest = best(app);
  const bareBest = best(bare);
  const bareTopped = !!bareBest && bareBest.offeredPerSecond === Math.max(...rates);
  const ratio = appBest && bareBest ? round((100 * appBest.achievedPerSecond) / bareBest.achievedPerSecond, 1) : null;
  // Added latency is compared only at rates both phases ran.
  const added = app
    .filter((a) => bare.some((b) => b.offeredPerSecond === a.offeredPerSecond))
    .sort((a, b) => a.offeredPerSecond - b.offeredPerSecond)
    .map((a) => {
      const b = bare.find((x) => x.offeredPerSecond === a.offeredPerSecond)!;
      return {
        rate: a.offeredPerSecond,
        appSustained: isSustained(a),
        // sipp's view (±4 ms) and the answerers' own clocks (sub-millisecond).
        sippAddedP50Ms: round(a.setup.p50Ms - b.setup.p50Ms, 2),
        sippAddedP99Ms: round(a.setup.p99Ms - b.setup.p99Ms, 2),
        answererAddedP50Ms: round(a.answer.p50Ms - b.answer.p50Ms, 2),
        answererAddedP99Ms: round(a.answer.p99Ms - b.answer.p99Ms, 2),
      };
    });
  // One table of the rates both phases ran, for the README.
  const cell = (r: StepResult | undefined) => (r ? `${r.achievedPerSecond} | ${r.setup.p50Ms} / ${r.setup.p99Ms}` : '- | -');
  say('| offered/s | app achieved | app setup p50 / p99 ms | bare achieved | bare setup p50 / p99 ms | load | app cores: service / PostgreSQL / drachtio | SQL per call |');
  for (const a of [...app].sort((x, y) => x.offeredPerSecond - y.offeredPerSecond)) {
    const b = bare.find((x) => x.offeredPerSecond === a.offeredPerSecond);
    say(`| ${a.offeredPerSecond} | ${cell(a)} | ${cell(b)} | ${a.loadBefore} | ${a.cores.bench ?? '-'} / ${a.cores.postgres ?? '-'} / ${a.cores.drachtio ?? '-'} | ${a.statementsPerCall ?? '-'} |`);
  }
  say(
    `sustained (0 failed, >= 95 % achieved, setup p99 <= ${maxP99Ms} ms): app ${appBest?.offeredPerSecond ?? 'none'}/s, bare ${bareBest?.offeredPerSecond ?? 'none'}/s${bareTopped ? ' (the top of the ladder: the true ceiling is higher)' : ''}`,
  );
  if (ratio !== null) say(`ratio: ${ratio} % of the ceiling${bareTopped ? ' (at most)' : ''} (target >= ${TARGETS.ratioPercent} %)`);
  for (const a of added) {
    say(
      `added setup latency at ${a.rate}/s${a.appSustained ? '' : ' (app not sustained)'}: sipp p50 ${a.sippAddedP50Ms} p99 ${a.sippAddedP99Ms} ms; answerer p50 ${a.answererAddedP50Ms} p99 ${a.answererAddedP99Ms} ms (target p99 <= ${TARGETS.addedP99Ms} ms)`,
    );
  }
  if (parts.has('app')) {
    say(`token check: ${counters.admitted} admitted, refused ${JSON.stringify(counters.refused)}, callEnded errors ${counters.endErrors} ${JSON.stringify(counters.endErrorSamples)}`);
  }
  Object.assign(out, {
    targets: TARGETS,
    app,
    bare,
    bareProcess,
    sustainedBareProcess: best(bareProcess)?.offeredPerSecond ?? null,
    sustained: { app: appBest?.offeredPerSecond ?? null, bare: bareBest?.offeredPerSecond ?? null, bareIsTopOfLadder: bareTopped, ratioPercent: ratio },
    added,
    counters: { ...counters, answerMs: undefined },
  });
}

async function main(): Promise<number> {
  const missing = drachtioAvailable() ?? sippAvailable();
  if (missing) {
    say(`skipped: ${missing}`);
    return 1;
  }
  const serverUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('set DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server');
  const machine = machineInfo();
  say(`${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB, node ${machine.node}, load ${machine.loadAverage.join(' ')}`);
  const started = Date.now();
  const out: Record<string, unknown> = { machine, seconds, rates, parts: [...parts], sustainedMeans: { failed: 0, minAchievedShare: 0.95, maxSetupP99Ms: maxP99Ms } };
  // At info drachtio-server logs every SIP message, which costs it and this process (which
  // keeps its output) more CPU than the calls themselves.
  const drachtio = await startDrachtio({ logLevel: 'notice' });
  try {
    if (parts.has('app') || parts.has('bare') || parts.has('bare-process')) await signallingParts(serverUrl, drachtio, out);
    if (parts.has('media')) out.media = await runMediaBench({ serverUrl, drachtio, say });
  } finally {
    await drachtio.stop().catch((e: unknown) => say(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
  }
  out.loadAfter = loadAverage();
  const figures = sipFigures(out);
  out.figures = figures;
  say(`figures against their baselines (ratio = value / baseline):\n${figuresTable(figures)}`);
  say(`took ${((Date.now() - started) / 1000).toFixed(0)} s; load average after ${loadAverage().join(' ')}`);
  const file = resolve(process.env.BENCH_SIP_OUT || process.env.BENCH_OUT || 'bench-sip-results.json');
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  say(`figures written to ${file}`);
  return exitStatus(figures);
}

/** CPU milliseconds per call of one step: every watched process (service, PostgreSQL, drachtio). */
function cpuPerCallMs(r: StepResult): number | null {
  const cores = Object.values(r.cores).filter((c): c is number => typeof c === 'number');
  return cores.length && r.achievedPerSecond > 0 ? (cores.reduce((a, b) => a + b, 0) * 1000) / r.achievedPerSecond : null;
}

const medianOf = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);

/** The figures of this run (ids as the issue names them), each beside its baseline. */
function sipFigures(out: Record<string, unknown>): Figure[] {
  const app = (out.app as StepResult[] | undefined) ?? [];
  const bare = (out.bare as StepResult[] | undefined) ?? [];
  // Rates both phases sustained: CPU per call compared where both did the same work.
  const pairs = app
    .filter(isSustained)
    .map((a) => [a, bare.find((b) => b.offeredPerSecond === a.offeredPerSecond && isSustained(b))] as const)
    .filter((p): p is readonly [StepResult, StepResult] => !!p[1]);
  const appCpu = medianOf(pairs.map(([a]) => cpuPerCallMs(a)).filter((x): x is number => x !== null));
  const bareCpu = medianOf(pairs.map(([, b]) => cpuPerCallMs(b)).filter((x): x is number => x !== null));
  const ceiling = best(app)?.offeredPerSecond ?? null;
  const upTo = ceiling === null ? [] : pairs.filter(([a]) => a.offeredPerSecond <= TARGETS.addedUpToShareOfCeiling * ceiling);
  const worst = upTo.reduce<readonly [StepResult, StepResult] | null>((w, p) => (!w || p[0].setup.p99Ms - p[1].setup.p99Ms > w[0].setup.p99Ms - w[1].setup.p99Ms ? p : w), null);
  const media = out.media as { results?: Array<{ level: number; ok: boolean; rtpClean: boolean }>; fsAlone?: { bridgedClean: number | null } } | undefined;
  const clean = media?.results?.filter((r) => r.ok && r.rtpClean).map((r) => r.level) ?? [];
  return [
    figure('sip.cpu_per_call', 'ms', appCpu, bareCpu, atMostRatio(TARGETS.cpuPerCallOfBare), pairs.length ? `median over ${pairs.map(([a]) => a.offeredPerSecond).join(', ')}/s (service + PostgreSQL + drachtio-server)` : 'no rate sustained by both'),
    figure(
      'sip.added_p99',
      'ms',
      worst ? worst[0].setup.p99Ms - worst[1].setup.p99Ms : null,
      worst ? worst[1].setup.p99Ms : null,
      atMostValue(TARGETS.addedP99Ms),
      worst ? `worst at ${worst[0].offeredPerSecond}/s of the rates up to 80 % of the service's ceiling (${ceiling}/s); baseline: the bare answer's p99 there` : 'no rate up to 80 % of the ceiling sustained by both',
    ),
    figure(
      'media.bridged',
      'calls',
      media?.results ? (clean.length ? Math.max(...clean) : 0) : null,
      media?.fsAlone?.bridgedClean ?? null,
      atLeastRatio(TARGETS.mediaShareOfBare),
      !media ? 'media part not run' : !media.results ? 'media part skipped' : media.fsAlone ? 'most concurrent bridged calls with clean RTP; baseline: FreeSWITCH alone' : 'no FreeSWITCH-alone baseline in this run',
    ),
  ];
}

// Exits by itself, 0 only when every goal is met.
main().then(
  (status) => process.exit(status),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
