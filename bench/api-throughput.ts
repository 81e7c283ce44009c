/**
 * API throughput of the knock flow, end to end over HTTP: an agent's POST /api/v1/call-requests
 * (which stores the request, appends to the audit chain, sends the Web Push and schedules the
 * expiry job) followed by the phone's POST /api/v1/app/requests/{id}/accept (which holds the
 * request and returns the WebAuthn challenge); then, as a separate phase, the biometric
 * POST …/authenticate that issues the pre-authentication token. The tokens issued there feed
 * the token verification benchmark, run in the same process against the same key ring.
 *
 * Processes: this one runs the service (as `npm start` would, jobs included); the load comes
 * from bench/load-client.ts and the push service double runs in bench/push-sink.ts, each forked
 * so their CPU is counted apart.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { devNull } from 'node:os';
import { performance as perf } from 'node:perf_hooks';
import { pino } from 'pino';
import type { PushSubscription } from '../src/domain/model.js';
import { loadConfig } from '../src/config/load-config.js';
import { startService } from '../src/service.js';
import { openBenchDatabase, type BenchTarget } from './bench-database.js';
import { startChild } from './child-process.js';
import { cpuBetween, sampleCpu, type CpuSample, type CpuWindow } from './cpu.js';
import type { AuthResult, RunResult } from './load-client.js';
import { installQueryCounter, queriesSoFar, takeStatementTally } from './query-counter.js';
import pg from 'pg';
import { sha256Hex } from '../src/security/secrets.js';
import { startBareApi } from './api-bare.js';
import { prepareStatementStats, startStatementWindow, type StatementWindow } from './pg-statements.js';
import { seedDirectory, type PasskeyPublic } from './seed.js';
import { benchTokenVerify, type TokenVerifyResult } from './token-verify.js';

export interface ApiBenchOptions {
  customers: number;
  agents: number;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  authDurationMs: number;
  /** Tokens kept for the full verification benchmark. */
  maxTokens: number;
  logLevel: string;
  poolSize?: number;
  /** Tally SQL statements by text during the create+accept window (costs a little CPU). */
  sqlBreakdown?: boolean;
  /** Write a V8 CPU profile of the service process over the create+accept window to this file. */
  cpuProfile?: string;
  /** Also run the bare baseline (bench/api-bare.ts) on the same database, after the service. */
  bare?: boolean;
  /** Read pg_stat_statements over each create+accept window (statements per pair with their time). */
  statements?: boolean;
}

/** The bare baseline's create+accept run, with its CPU: the floor the service is compared to. */
export interface BareApiResult {
  createAccept: RunResult & { cpu: PhaseCpu | null };
  statements?: Awaited<ReturnType<StatementWindow['read']>>;
}

export interface PhaseCpu {
  service: number;
  /** Share of the service's CPU spent in the kernel. */
  serviceSystemShare: number;
  client: number;
  pushSink: number | null;
  postgres: number | null;
  machine: number | null;
  machineBusyPercent: number | null;
  serviceEventLoopUtilization: number;
  /** Per create+accept pair (or per authenticate): CPU milliseconds and SQL statements. */
  perOperation: { serviceCpuMs: number; postgresCpuMs: number | null; sqlStatements: number } | null;
}

export interface ApiBenchResult {
  setup: { customers: number; agents: number; concurrency: number; poolSize: number; logLevel: string; seedMs: number; notification: string };
  createAccept: RunResult & { cpu: PhaseCpu | null };
  authenticate: Omit<AuthResult, 'tokens'> & { cpu: PhaseCpu | null };
  push: { received: number; failedAnswers: number; sampled: number; sampleProblems: number; sampledKinds: Record<string, number> };
  tokens: TokenVerifyResult | { skipped: string };
  serviceRssMb: number;
  /** The audit chain after the run: every concurrent append must have kept it verifiable. */
  auditChain: { ok: boolean; entries: number; problem: string | null };
  /** SQL statements by opening words in the create+accept window (BENCH_SQL_BREAKDOWN=1). */
  sqlStatements?: Record<string, number>;
  /** pg_stat_statements over the create+accept window, per pair (BENCH_PROFILE). */
  statements?: Awaited<ReturnType<StatementWindow['read']>>;
  /** The bare baseline on the same database, run after the service has stopped. */
  bare?: BareApiResult | { error: string };
}

export const DEFAULT_API_OPTIONS: ApiBenchOptions = {
  customers: 1024,
  agents: 40,
  concurrency: 64,
  warmupMs: 3000,
  durationMs: 20_000,
  authDurationMs: 12_000,
  maxTokens: 4000,
  logLevel: 'info',
};

/** A CPU profile of this process (the service) over one window, for `--cpu-prof`-like analysis. */
class WindowProfiler {
  private readonly session = new Session();
  private running: Promise<void> | null = null;

  constructor(private readonly file: string) {}

  async start(): Promise<void> {
    this.session.connect();
    this.running = (async () => {
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: 1000 });
      await this.session.post('Profiler.start');
    })();
    await this.running;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    await this.running;
    const { profile } = await this.session.post('Profiler.stop');
    writeFileSync(this.file, JSON.stringify(profile));
    this.session.disconnect();
    progress('profile', `service CPU profile of the create+accept window written to ${this.file}`);
  }
}

/** Progress on stderr, so a slow phase shows where the time goes. */
function progress(label: string, message: string): void {
  process.stderr.write(`[bench]   ${label}: ${message}\n`);
}

const round2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);

export async function runApiBench(target: BenchTarget, options: ApiBenchOptions): Promise<ApiBenchResult> {
  installQueryCounter({ byText: options.sqlBreakdown === true });
  const label = target.kind === 'server' ? 'server' : 'embedded';
  const db = await openBenchDatabase(target);
  progress(label, 'database ready');
  const statementStats = options.statements ? await prepareStatementStats(db.url) : null;
  const cleanups: Array<() => Promise<void>> = [() => db.drop()];
  try {
    const sink = await startChild('./push-sink.ts');
    cleanups.push(() => sink.stop());
    // The sink is a plain-HTTP double on loopback: its origin goes on the push allow-list.
    const { subs: probe } = await sink.ask<{ subs: PushSubscription[] }>({ type: 'subscriptions', count: 1 }, 'subscriptions');
    const sinkOrigin = new URL(probe[0]!.endpoint).origin;
    const client = await startChild('./load-client.ts');
    cleanups.push(() => client.stop());

    const env: NodeJS.ProcessEnv = {
      DATABASE_URL: db.url,
      KNOCK_SERVER__PORT: '0',
      KNOCK_METRICS__LISTEN: '127.0.0.1:0',
      KNOCK_NOTIFY__WEBPUSH__ALLOWED_ENDPOINT_ORIGINS: JSON.stringify([sinkOrigin]),
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
      // The SIP side is measured by bench:sip; here it would connect to whatever drachtio-server
      // runs on the machine (another run's), and its start-up could wait on that.
      KNOCK_SIP__ENABLED: 'false',
      LOG_LEVEL: options.logLevel,
    };
    if (options.poolSize) env.KNOCK_DATABASE__POOL_SIZE = String(options.poolSize);
    const config = loadConfig(env);
    // Logs are produced as in production (JSON at the configured level) but thrown away.
    const logger = pino({ level: options.logLevel }, pino.destination({ dest: devNull, sync: false, minLength: 8192 }));
    const service = await startService(config, { logger, instanceName: 'bench' });
    let serviceStopped: Promise<void> | null = null;
    const stopService = () => (serviceStopped ??= service.stop());
    cleanups.push(stopService);
    const deps = service.deps;

    const seedStart = performance.now();
    const { keys } = await client.ask<{ keys: PasskeyPublic[] }>(
      { type: 'keys', count: options.customers, rpId: config.auth.webauthn.rpId, origin: config.auth.webauthn.origins[0] },
      'keys',
    );
    const { subs } = await sink.ask<{ subs: PushSubscription[] }>({ type: 'subscriptions', count: options.customers }, 'subscriptions');
    const directory = await seedDirectory(deps, { agents: options.agents, passkeys: keys, subscriptions: subs });
    const seedMs = Math.round(performance.now() - seedStart);
    progress(label, `seeded ${options.customers} customers and ${options.agents} agents in ${(seedMs / 1000).toFixed(1)} s; create+accept for ${(options.warmupMs + options.durationMs) / 1000} s`);

    // CPU per process for each measured window, marked by the load client.
    // Windows are keyed by run ('' for the service, 'bare:' for the baseline) and phase.
    let runName = '';
    const marks = new Map<string, { cpu: CpuSample; elu: ReturnType<typeof perf.eventLoopUtilization>; queries: number }>();
    const windows = new Map<string, { cpu: CpuWindow; elu: number; queries: number }>();
    let sqlTally: Record<string, number> = {};
    const profiler = options.cpuProfile ? new WindowProfiler(options.cpuProfile) : null;
    const bareProfiler = options.cpuProfile && options.bare ? new WindowProfiler(options.cpuProfile.replace(/(\.cpuprofile)?$/, '.bare.cpuprofile')) : null;
    const statementWindows = new Map<string, Promise<StatementWindow>>();
    client.on('mark', (m) => {
      if (options.statements && m.phase === 'create-accept' && m.edge === 'start') statementWindows.set(runName, startStatementWindow(db.url, statementStats));
      const prof = runName ? bareProfiler : profiler;
      if (prof && m.phase === 'create-accept') void (m.edge === 'start' ? prof.start() : prof.stop());
      const now = { cpu: sampleCpu({ postgres: db.localServer }), elu: perf.eventLoopUtilization(), queries: queriesSoFar() };
      if (m.phase === 'create-accept' && !runName) sink.send({ type: 'mark' });
      const key = `${runName}${m.phase}`;
      if (m.edge === 'start') {
        if (m.phase === 'create-accept' && !runName) takeStatementTally();
        marks.set(key, now);
      } else {
        const begin = marks.get(key);
        if (m.phase === 'create-accept' && !runName) sqlTally = takeStatementTally();
        if (begin) {
          windows.set(key, {
            cpu: cpuBetween(begin.cpu, now.cpu),
            elu: perf.eventLoopUtilization(now.elu, begin.elu).utilization,
            queries: now.queries - begin.queries,
          });
        }
      }
    });

    const { result: run } = await client.ask<{ result: RunResult }>(
      {
        type: 'run',
        url: service.url,
        concurrency: options.concurrency,
        warmupMs: options.warmupMs,
        durationMs: options.durationMs,
        agents: directory.agentTokens,
        customers: directory.customers,
      },
      'run-result',
    );
    progress(label, `create+accept done (${run.requestsPerSecond} requests/s); authenticate for up to ${options.authDurationMs / 1000} s`);
    const statements = await statementWindows.get('')?.then((w) => w.read(run.completed.accept ?? 0));
    const { result: auth } = await client.ask<{ result: AuthResult }>(
      { type: 'auth', concurrency: options.concurrency, durationMs: options.authDurationMs, maxTokens: options.maxTokens },
      'auth-result',
    );

    progress(label, `authenticate done (${auth.requestsPerSecond} requests/s); verifying ${auth.tokens.length} tokens`);
    let tokens: ApiBenchResult['tokens'];
    if (auth.tokens.length < 2) {
      tokens = { skipped: 'the authenticate phase issued no tokens' };
    } else {
      tokens = await benchTokenVerify({ keyRing: deps.keyRing, store: deps.store, config, tokens: auth.tokens });
    }

    const chain = await deps.store.audit.verify();
    const pushReport = await sink.ask<ApiBenchResult['push'] & { cpuCores: number | null }>({ type: 'report' }, 'report');

    // The bare baseline, on the same database once the service has stopped (so this process's
    // CPU is the baseline's alone): every pair is knocked again, so the open requests are closed.
    let bare: { run: RunResult; statements?: BareApiResult['statements'] } | { error: string } | null = null;
    if (options.bare) {
      try {
        const agents = new Map<string, string>();
        for (const token of directory.agentTokens) agents.set(token, (await deps.store.agentLogins.getAgentId(sha256Hex(token), new Date()))!);
        const devices = new Map<string, { deviceId: string; customerId: string }>();
        for (const c of directory.customers) devices.set(c.credential, { deviceId: (await deps.store.devices.getByCredentialHash(sha256Hex(c.credential)))!.id, customerId: c.id });
        await stopService();
        const admin = new pg.Client({ connectionString: db.url });
        await admin.connect();
        await admin.query(`UPDATE call_requests SET state = 'ended', outcome = 'completed' WHERE state NOT IN ('ended', 'cancelled')`);
        await admin.query(`DELETE FROM agenda_jobs`);
        await admin.end();
        const api = await startBareApi({ databaseUrl: db.url, poolSize: config.database.poolSize, agents, devices });
        cleanups.push(() => api.stop());
        runName = 'bare:';
        progress(label, `bare baseline (node:http + pg) create+accept for ${(options.warmupMs + options.durationMs) / 1000} s`);
        const { result } = await client.ask<{ result: RunResult }>(
          { type: 'run', url: api.url, concurrency: options.concurrency, warmupMs: options.warmupMs, durationMs: options.durationMs, agents: directory.agentTokens, customers: directory.customers },
          'run-result',
        );
        progress(label, `bare baseline done (${result.requestsPerSecond} requests/s)`);
        bare = { run: result, statements: await statementWindows.get('bare:')?.then((w) => w.read(result.completed.accept ?? 0)) };
      } catch (e) {
        bare = { error: (e as Error).message };
      }
    }
    const phaseCpu = (phase: string, clientCores: number, sinkCores: number | null, operations: number): PhaseCpu | null => {
      const w = windows.get(phase);
      if (!w) return null;
      const seconds = w.cpu.wallMs / 1000;
      return {
        service: round2(w.cpu.selfCores)!,
        serviceSystemShare: round2(w.cpu.selfSystemShare)!,
        client: clientCores,
        pushSink: round2(sinkCores),
        postgres: round2(w.cpu.postgresCores),
        machine: round2(w.cpu.machineCores),
        machineBusyPercent: w.cpu.machineBusyPercent === null ? null : Math.round(w.cpu.machineBusyPercent),
        serviceEventLoopUtilization: round2(w.elu)!,
        perOperation:
          operations > 0
            ? {
                serviceCpuMs: round2((w.cpu.selfCores * seconds * 1000) / operations)!,
                postgresCpuMs: w.cpu.postgresCores === null ? null : round2((w.cpu.postgresCores * seconds * 1000) / operations),
                sqlStatements: round2(w.queries / operations)!,
              }
            : null,
      };
    };
    const { tokens: _issued, ...authStats } = auth;
    return {
      setup: {
        customers: options.customers,
        agents: options.agents,
        concurrency: options.concurrency,
        poolSize: config.database.poolSize,
        logLevel: options.logLevel,
        seedMs,
        notification: 'Web Push (RFC 8291 encryption + VAPID) to a local push service double',
      },
      // Operations in each window: accepts completed (each closes a pair), authenticates completed.
      createAccept: { ...run, cpu: phaseCpu('create-accept', run.clientCpuCores, pushReport.cpuCores, run.completed.accept ?? 0) },
      authenticate: { ...authStats, cpu: phaseCpu('authenticate', auth.clientCpuCores, null, auth.requests) },
      push: {
        received: pushReport.received,
        failedAnswers: pushReport.failedAnswers,
        sampled: pushReport.sampled,
        sampleProblems: pushReport.sampleProblems,
        sampledKinds: pushReport.sampledKinds,
      },
      tokens,
      serviceRssMb: Math.round(process.memoryUsage().rss / 1048576),
      auditChain: { ok: chain.ok, entries: chain.entries, problem: chain.problem },
      ...(options.sqlBreakdown ? { sqlStatements: sqlTally } : {}),
      ...(statements ? { statements } : {}),
      ...(bare === null
        ? {}
        : {
            bare:
              'error' in bare
                ? bare
                : {
                    createAccept: { ...bare.run, cpu: phaseCpu('bare:create-accept', bare.run.clientCpuCores, null, bare.run.completed.accept ?? 0) },
                    ...(bare.statements ? { statements: bare.statements } : {}),
                  },
          }),
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      // A stop that hangs must not hold the whole run: give each one 20 s.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          progress(label, 'a clean-up step did not finish within 20 s; going on');
          resolve();
        }, 20_000);
      });
      await Promise.race([cleanup().catch(() => undefined), limit]);
      clearTimeout(timer);
    }
  }
}
