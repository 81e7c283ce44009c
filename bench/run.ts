/**
 * `npm run bench`: throughput and latency figures for the knock flow, token verification and the
 * job scheduler, on a PostgreSQL server (DATABASE_URL, else TEST_DATABASE_URL; a throwaway
 * database is created on it and dropped) and on the embedded PostgreSQL (in a temporary data
 * directory, as `npm start` runs it). Each part runs in a fresh process. Prints a table and
 * writes every figure as JSON to BENCH_OUT (default ./bench-results.json).
 *
 * Tuning (environment): BENCH_TARGETS=server,embedded  BENCH_PARTS=api,scheduler
 * BENCH_DURATION_S=20  BENCH_CONCURRENCY=64  BENCH_SCHEDULER_COUNT=10000
 * BENCH_EMBEDDED_SCHEDULER_COUNT=10000  BENCH_LOG_LEVEL=info  BENCH_POOL_SIZE (default: config)
 * BENCH_SQL_BREAKDOWN=1 (tally SQL statements by text during the create+accept window)
 * BENCH_CPU_PROFILE=file.cpuprofile (V8 CPU profile of the service over that window)
 * BENCH_PROFILE=<dir> (profiles of every path: a V8 CPU profile of the service's and the bare
 * baseline's create+accept windows, api-<target>[.bare].cpuprofile, and, when the server has
 * pg_stat_statements loaded, the statements per pair with their time, in the JSON)
 * BENCH_API_BARE=0 (no bare baseline)  BENCH_SCHEDULER_PEER=0 (no peer queue)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_API_OPTIONS, type ApiBenchOptions, type ApiBenchResult, type BareApiResult } from './api-throughput.js';
import { durabilitySettings, serverVersion, type BenchTarget, type TargetKind } from './bench-database.js';
import { calibrate, type Calibration } from './calibration.js';
import { startChild } from './child-process.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { atLeastRatio, atMostRatio, exitStatus, figure, figuresTable, type Figure } from './figures.js';
import type { SchedulerBenchOptions, SchedulerBenchResult } from './scheduler-part.js';

/** The product's goals (issue "every hot path within a small factor of its bare baseline"). */
const TARGETS = {
  apiRequestsPerSecond: 1000,
  /** Service throughput as a share of the bare baseline's, and CPU per pair as a multiple of it. */
  apiShareOfBare: 0.7,
  apiCpuOfBare: 1.4,
  tokenRatioPercent: 90,
  schedulerP99Ms: 100,
  /** Embedded p99 as a multiple of the server's. */
  schedulerEmbeddedOfServer: 2,
  schedulerRssMb: 250,
};

/** The figures the issue names, each beside its baseline of the same run. */
function figuresOf(reports: TargetReport[]): Figure[] {
  const server = reports.find((r) => r.target === 'server');
  const embedded = reports.find((r) => r.target === 'embedded');
  const ok = <T,>(x: T | { error: string } | undefined): T | undefined => (x && !isError(x) ? (x as T) : undefined);
  const api = ok<ApiBenchResult>(server?.api);
  const bareRun = ok<BareApiResult>(api?.bare);
  // A baseline that failed requests measured something else than the floor.
  const bare = bareRun?.createAccept.errors === 0 ? bareRun : undefined;
  const perPair = (cpu: { perOperation: { serviceCpuMs: number; postgresCpuMs: number | null } | null } | null | undefined) =>
    cpu?.perOperation && cpu.perOperation.postgresCpuMs !== null ? cpu.perOperation.serviceCpuMs + cpu.perOperation.postgresCpuMs : null;
  const tokens = [server, embedded]
    .map((r) => ok<ApiBenchResult>(r?.api)?.tokens)
    .filter((t): t is Exclude<ApiBenchResult['tokens'], { skipped: string }> => !!t && !('skipped' in t));
  const lowest = tokens.length ? tokens.reduce((a, b) => (b.ratioPercent < a.ratioPercent ? b : a)) : undefined;
  const serverSched = ok<SchedulerBenchResult>(server?.scheduler);
  const peerRun = serverSched?.peer && !isError(serverSched.peer) ? serverSched.peer : undefined;
  // A peer that lost or repeated jobs measured something else than the baseline.
  const peer = peerRun && peerRun.missing === 0 && peerRun.duplicates === 0 ? peerRun : undefined;
  const embeddedSched = ok<SchedulerBenchResult>(embedded?.scheduler);
  const notYet = 'not measured yet: the 1,000,000-request growth run is not built';
  return [
    figure('api.create_accept', 'req/s', api?.createAccept.errors === 0 ? api.createAccept.requestsPerSecond : null, bare?.createAccept.requestsPerSecond, atLeastRatio(TARGETS.apiShareOfBare, { value: TARGETS.apiRequestsPerSecond }), api ? undefined : 'API part not run on a PostgreSQL server'),
    figure('api.cpu_per_pair', 'ms', perPair(api?.createAccept.cpu), perPair(bare?.createAccept.cpu), atMostRatio(TARGETS.apiCpuOfBare), 'service + PostgreSQL CPU per create+accept pair'),
    // The median of interleaved rounds (token-verify.ts), as a share of raw crypto.verify = 100 %.
    figure('token.verify', '% of raw verify', lowest?.ratioPercent, lowest ? 100 : null, atLeastRatio(TARGETS.tokenRatioPercent / 100), tokens.length === 2 ? 'the lower of the two backends' : 'one backend only'),
    figure('scheduler.p99', 'ms', serverSched?.p99Ms, peer?.p99Ms, { text: `value <= ${TARGETS.schedulerP99Ms} and ratio <= 1.00`, check: (v, _b, r) => v <= TARGETS.schedulerP99Ms && r !== null && r <= 1 }, peer ? `peer queue: ${peer.name}, p50 ${peer.p50Ms} ms; CPU per job ${serverSched?.cpuMsPerJob} ms here, ${peer.cpuMsPerJob} ms the peer` : serverSched?.peer && isError(serverSched.peer) ? `peer queue failed: ${serverSched.peer.error.split('\n')[0]}` : 'no peer-queue baseline in this run'),
    figure('scheduler.embedded_p99', 'ms', embeddedSched?.p99Ms, serverSched?.p99Ms, atMostRatio(TARGETS.schedulerEmbeddedOfServer), 'baseline: the server p99'),
    figure('growth.api', 'req/s', null, null, atLeastRatio(0.9), notYet),
    figure('growth.console_p99', 'ms', null, null, atMostRatio(1.1), notYet),
  ];
}

type PartName = 'api' | 'scheduler';

interface TargetReport {
  target: TargetKind;
  database: string;
  settings?: Record<string, string>;
  api?: ApiBenchResult | { error: string };
  scheduler?: SchedulerBenchResult | { error: string };
}

const num = (name: string, fallback: number) => {
  const v = process.env[name];
  return v && Number.isFinite(Number(v)) ? Number(v) : fallback;
};
const list = (name: string) =>
  process.env[name]
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function runPart<T>(part: PartName, target: BenchTarget, options: unknown, timeoutMs: number): Promise<T | { error: string }> {
  const child = await startChild('./part-child.ts');
  try {
    const { result } = await child.ask<{ result: T }>({ type: 'part', part, target, options }, 'result', timeoutMs);
    return result;
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    await child.stop();
  }
}

function isError(x: unknown): x is { error: string } {
  return typeof x === 'object' && x !== null && 'error' in x;
}

// ---- report --------------------------------------------------------------------------------

type Row = [string, string, string, string];

function met(ok: boolean | null): string {
  return ok === null ? '' : ok ? 'met' : 'MISSED';
}

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function rowsFor(r: TargetReport): Row[] {
  const rows: Row[] = [];
  const api = r.api;
  if (api && isError(api)) rows.push(['API benchmark', `failed: ${api.error.split('\n')[0]}`, '', '']);
  else if (api) {
    const ca = api.createAccept;
    rows.push([
      'create + accept, HTTP requests/s',
      `${fmt(ca.requestsPerSecond)} (${fmt(ca.pairsPerSecond)} pairs/s)`,
      `>= ${TARGETS.apiRequestsPerSecond}`,
      met(ca.requestsPerSecond >= TARGETS.apiRequestsPerSecond && ca.errors === 0),
    ]);
    for (const name of ['create', 'accept']) {
      const l = ca.latency[name];
      if (l) rows.push([`  ${name} latency p50 / p99`, `${fmt(l.p50Ms, 1)} / ${fmt(l.p99Ms, 1)} ms`, '', '']);
    }
    const bare = api.bare;
    if (bare && isError(bare)) rows.push(['  bare baseline (node:http + pg)', `failed: ${bare.error.split('\n')[0]}`, '', '']);
    else if (bare) {
      const b = bare.createAccept;
      const p = b.cpu?.perOperation;
      rows.push([
        '  bare baseline (node:http + pg), requests/s',
        `${fmt(b.requestsPerSecond)}; errors ${b.errors}${p ? `; per pair: process ${fmt(p.serviceCpuMs, 1)} ms CPU, postgres ${fmt(p.postgresCpuMs, 1)} ms CPU, ${fmt(p.sqlStatements, 1)} SQL statements` : ''}`,
        `service >= ${TARGETS.apiShareOfBare * 100} %`,
        met(ca.requestsPerSecond >= TARGETS.apiShareOfBare * b.requestsPerSecond),
      ]);
    }
    rows.push(['  errors', `${ca.errors}${ca.errorSamples.length ? ` (${ca.errorSamples[0]})` : ''}`, '0', met(ca.errors === 0)]);
    if (ca.cpu) {
      const c = ca.cpu;
      rows.push([
        '  CPU, cores busy',
        `service ${fmt(c.service, 2)} (event loop ${fmt(c.serviceEventLoopUtilization * 100)} %, kernel ${fmt(c.serviceSystemShare * 100)} %), postgres ${fmt(c.postgres, 2)}, load client ${fmt(c.client, 2)}, push double ${fmt(c.pushSink, 2)}; machine ${fmt(c.machine, 2)} (${fmt(c.machineBusyPercent)} %)`,
        '',
        '',
      ]);
    }
    if (ca.cpu?.perOperation) {
      const p = ca.cpu.perOperation;
      rows.push(['  per create+accept pair', `service ${fmt(p.serviceCpuMs, 1)} ms CPU, postgres ${fmt(p.postgresCpuMs, 1)} ms CPU, ${fmt(p.sqlStatements, 1)} SQL statements`, '', '']);
    }
    rows.push(['  push messages received / requests created', `${fmt(api.push.received)} / ${fmt(ca.created)}`, '', '']);
    if (api.auditChain) {
      const a = api.auditChain;
      rows.push(['audit chain after the run', `${a.ok ? 'verifies' : `BROKEN: ${a.problem}`} (${fmt(a.entries)} entries)`, 'verifies', met(a.ok)]);
    }
    const au = api.authenticate;
    const al = au.latency.authenticate;
    rows.push([
      'authenticate (biometric), requests/s',
      `${fmt(au.requestsPerSecond)}; p50 / p99 ${fmt(al?.p50Ms, 1)} / ${fmt(al?.p99Ms, 1)} ms; errors ${au.errors}`,
      '',
      au.errors === 0 ? '' : 'ERRORS',
    ]);
    if (au.cpu) {
      const p = au.cpu.perOperation;
      rows.push([
        '  CPU, cores busy',
        `service ${fmt(au.cpu.service, 2)}, postgres ${fmt(au.cpu.postgres, 2)}, load client ${fmt(au.cpu.client, 2)}${p ? `; per request: service ${fmt(p.serviceCpuMs, 1)} ms, postgres ${fmt(p.postgresCpuMs, 1)} ms, ${fmt(p.sqlStatements, 1)} SQL statements` : ''}`,
        '',
        '',
      ]);
    }
    const t = api.tokens;
    if ('skipped' in t) rows.push(['token verification', `skipped: ${t.skipped}`, '', '']);
    else {
      rows.push([
        'token signature check / raw crypto.verify',
        `${fmt(t.signatureOnlyPerSecond)} / ${fmt(t.rawVerifyPerSecond)} per s = ${fmt(t.ratioPercent, 1)} %`,
        `>= ${TARGETS.tokenRatioPercent} %`,
        met(t.ratioPercent >= TARGETS.tokenRatioPercent),
      ]);
      if (t.full) {
        rows.push([
          'full verifyPreauthToken (single-use consume)',
          `${fmt(t.full.perSecond)} per s; p50 / p99 ${fmt(t.full.latency.p50Ms, 1)} / ${fmt(t.full.latency.p99Ms, 1)} ms; errors ${t.full.errors}; replay refused: ${t.full.replayRefused ? 'yes' : 'NO'}`,
          '',
          t.full.errors === 0 && t.full.replayRefused ? '' : 'ERRORS',
        ]);
      }
    }
  }
  const s = r.scheduler;
  if (s && isError(s)) rows.push(['scheduler benchmark', `failed: ${s.error.split('\n')[0]}`, '', '']);
  else if (s) {
    const once = s.firedOnce === s.count && s.duplicates === 0 && s.missing === 0;
    rows.push([
      `scheduler lateness p50 / p99 (${fmt(s.count)} callbacks)`,
      `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)} ms (max ${fmt(s.maxMs)})`,
      `p99 <= ${TARGETS.schedulerP99Ms} ms`,
      met(s.p99Ms <= TARGETS.schedulerP99Ms),
    ]);
    const peer = s.peer;
    if (peer && isError(peer)) rows.push(['  peer queue (graphile-worker)', `failed: ${peer.error.split('\n')[0]}`, '', '']);
    else if (peer) {
      rows.push([
        `  peer queue, ${peer.name}, p50 / p99`,
        `${fmt(peer.p50Ms)} / ${fmt(peer.p99Ms)} ms (max ${fmt(peer.maxMs)}); once ${fmt(peer.firedOnce)}, duplicates ${peer.duplicates}, missing ${peer.missing}; ${fmt(peer.cpuMsPerJob, 2)} ms CPU per job`,
        'service p99 <= peer p99',
        met(s.p99Ms <= peer.p99Ms),
      ]);
    }
    rows.push(['  fired exactly once', `${fmt(s.firedOnce)} of ${fmt(s.count)}; duplicates ${s.duplicates}; missing ${s.missing}`, 'all', met(once)]);
    rows.push(['  due over / fired at about', `${fmt(s.spreadMs / 1000)} s / ${fmt(s.firedPerSecond)} jobs per s (scheduling took ${fmt(s.schedulingMs / 1000, 1)} s); ${fmt(s.cpuMsPerJob, 2)} ms CPU per job`, '', '']);
    const m = s.startedService;
    if (isError(m)) rows.push(['service RSS (npm start)', `failed: ${m.error.split('\n')[0]}`, '', '']);
    else {
      rows.push([
        `service RSS with ${fmt(m.count)} pending (${m.command}, all its threads and child processes)`,
        `${fmt(m.rssMbWithPending)} MB (anonymous ${fmt(m.anonMb)}, files ${fmt(m.fileMb)}; idle ${fmt(m.rssMbIdle)} MB, peak ${fmt(m.peakRssMb)} MB)`,
        `<= ${TARGETS.schedulerRssMb} MB`,
        met(m.rssMbWithPending <= TARGETS.schedulerRssMb),
      ]);
    }
    rows.push([
      '  bench process RSS (service + database + bench scheduler, under tsx)',
      `${fmt(s.rssMbWithPending)} MB with all pending (idle ${fmt(s.serviceBaselineRssMb)} MB, peak while firing ${fmt(s.peakRssMb)} MB)`,
      '',
      '',
    ]);
  }
  return rows;
}

function table(rows: Row[]): string {
  const head: Row = ['measure', 'result', 'target', ''];
  const all = [head, ...rows];
  const width = [0, 1, 2, 3].map((i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: Row) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function printReport(machine: MachineInfo, calibration: Calibration, reports: TargetReport[], skipped: string[]): void {
  const out: string[] = [];
  out.push('');
  out.push(`Knock benchmarks, ${machine.date}`);
  out.push(`${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGb} GB RAM, Node ${machine.node}, load average at start ${machine.loadAverage.join(' ')}`);
  out.push(
    `Machine calibration: SELECT 1 ${calibration.select1PerSecond === null ? '(no server)' : `${fmt(calibration.select1PerSecond)}/s`} (pool of 10, 64 in flight); HTTP echo ${fmt(calibration.httpEchoPerSecond)}/s (client and server in one process)`,
  );
  for (const r of reports) {
    out.push('');
    const settings = r.settings ? ` (${Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
    out.push(`== ${r.target === 'server' ? 'PostgreSQL server' : 'embedded PostgreSQL (PGlite in a worker thread of the service process, temporary data directory)'}: ${r.database}${settings}`);
    out.push(table(rowsFor(r)));
  }
  for (const s of skipped) out.push(`\n(${s})`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<number> {
  const machine = machineInfo();
  const serverUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || '';
  const wanted = list('BENCH_TARGETS') ?? ['server', 'embedded'];
  const parts = (list('BENCH_PARTS') ?? ['api', 'scheduler']) as PartName[];
  const skipped: string[] = [];
  const targets: BenchTarget[] = [];
  if (wanted.includes('server')) {
    if (serverUrl) targets.push({ kind: 'server', serverUrl });
    else skipped.push('PostgreSQL server part skipped: set DATABASE_URL or TEST_DATABASE_URL to run it');
  }
  if (wanted.includes('embedded')) targets.push({ kind: 'embedded' });

  const profileDir = process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const apiOptions: ApiBenchOptions = {
    ...DEFAULT_API_OPTIONS,
    durationMs: num('BENCH_DURATION_S', DEFAULT_API_OPTIONS.durationMs / 1000) * 1000,
    concurrency: num('BENCH_CONCURRENCY', DEFAULT_API_OPTIONS.concurrency),
    logLevel: process.env.BENCH_LOG_LEVEL ?? DEFAULT_API_OPTIONS.logLevel,
    ...(process.env.BENCH_POOL_SIZE ? { poolSize: num('BENCH_POOL_SIZE', 10) } : {}),
    sqlBreakdown: process.env.BENCH_SQL_BREAKDOWN === '1',
    bare: process.env.BENCH_API_BARE !== '0',
    ...(process.env.BENCH_CPU_PROFILE ? { cpuProfile: resolve(process.env.BENCH_CPU_PROFILE) } : {}),
  };

  process.stderr.write('[bench] calibrating the machine…\n');
  const calibration = await calibrate(targets.some((t) => t.kind === 'server') ? serverUrl : null);

  const reports: TargetReport[] = [];
  for (const target of targets) {
    const report: TargetReport = { target: target.kind, database: 'PGlite (embedded)' };
    if (target.kind === 'server') {
      report.database = await serverVersion(target.serverUrl!);
      report.settings = await durabilitySettings(target.serverUrl!);
    }
    reports.push(report);
    const label = target.kind === 'server' ? 'PostgreSQL server' : 'embedded PostgreSQL';
    if (parts.includes('api')) {
      process.stderr.write(`[bench] ${label}: API throughput and token verification…\n`);
      // BENCH_PROFILE=<dir>: a V8 CPU profile of each path's window (service and bare baseline)
      // and pg_stat_statements per pair, per target.
      const profiled: ApiBenchOptions = profileDir
        ? { ...apiOptions, cpuProfile: join(profileDir, `api-${target.kind}.cpuprofile`), statements: target.kind === 'server' }
        : apiOptions;
      report.api = await runPart<ApiBenchResult>('api', target, profiled, 240_000);
    }
    if (parts.includes('scheduler')) {
      const count = target.kind === 'server' ? num('BENCH_SCHEDULER_COUNT', 10_000) : num('BENCH_EMBEDDED_SCHEDULER_COUNT', 10_000);
      process.stderr.write(`[bench] ${label}: scheduler lateness, ${count} callbacks…\n`);
      const options: SchedulerBenchOptions = { count, peer: process.env.BENCH_SCHEDULER_PEER !== '0' };
      report.scheduler = await runPart<SchedulerBenchResult>('scheduler', target, options, 240_000);
    }
  }

  const finished = machineInfo();
  printReport(machine, calibration, reports, skipped);
  const figures = figuresOf(reports);
  process.stdout.write(`\nFigures against their baselines (ratio = value / baseline):\n${figuresTable(figures)}\n`);
  const outPath = resolve(process.env.BENCH_OUT ?? 'bench-results.json');
  writeFileSync(
    outPath,
    `${JSON.stringify({ machine, loadAverageAtEnd: finished.loadAverage, calibration, targets: TARGETS, figures, skipped, apiOptions, results: reports }, null, 2)}\n`,
  );
  process.stdout.write(`\nAll figures: ${outPath}\n`);
  return exitStatus(figures);
}

// Exits by itself with 0 only when every goal is met; a part left running is not waited for.
main().then(
  (status) => process.exit(status),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
