/**
 * How late do scheduled callbacks fire when thousands come due together, and does each fire
 * exactly once? Schedules `count` callback jobs through the scheduler's API, due spread evenly
 * over `spreadMs`, and measures lateness = handler start − due time.
 *
 * Targets: p99 ≤ 1 s, every job exactly once, RSS ≤ 250 MB with all jobs pending.
 *
 * Standalone: `node --import tsx bench/scheduler-lateness.ts` prints one JSON line. It uses
 * DATABASE_URL as is, or else a throwaway database on the server named by TEST_DATABASE_URL.
 * Optional: BENCH_COUNT (jobs), BENCH_INSTANCES (schedulers sharing the work), BENCH_POOL
 * (connections per scheduler), LOG_LEVEL.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import type { Config } from '../src/config/config.js';
import { createScheduler } from '../src/jobs/scheduler.js';
import { openBenchDatabase } from './bench-database.js';
import { inParallel, percentile } from './stats.js';

/** What any queue's run of due jobs is judged by: exactly once, and how late. */
export interface FiringFigures {
  count: number;
  firedOnce: number;
  duplicates: number;
  missing: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LatenessResult extends FiringFigures {
  rssMbWithPending: number;
  /** Extra facts for reading the figures above. */
  peakRssMb: number;
  schedulingMs: number;
  spreadMs: number;
  instances: number;
  /** This process's CPU from the first due time until every job fired, per job (the peer queue's is measured the same way). */
  cpuMsPerJob: number | null;
}

export interface LatenessOptions {
  url: string;
  count?: number;
  logger: Logger;
  /** Due times are spread evenly over this window. */
  spreadMs?: number;
  /** Service instances sharing the work (in this process, each with its own pool). */
  instances?: number;
  /** Connections per scheduler (default: the scheduler's). */
  poolSize?: number;
  config?: Config['jobs'];
}

const DEFAULT_JOBS_CONFIG: Config['jobs'] = {
  processEveryMs: 500,
  lockLifetimeMs: 60_000,
  housekeepingCron: '*/5 * * * *',
  staleSessionHours: 12,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rssMb = () => Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;

export async function benchSchedulerLateness(options: LatenessOptions): Promise<LatenessResult> {
  const { url, logger } = options;
  const count = options.count ?? 10_000;
  const spreadMs = options.spreadMs ?? 15_000;
  const instances = options.instances ?? 1;
  const config = options.config ?? DEFAULT_JOBS_CONFIG;
  const run = randomBytes(4).toString('hex');

  const starts = new Map<string, number[]>();
  const due = new Map<string, number>();
  const schedulers = Array.from({ length: instances }, (_, n) =>
    createScheduler({
      url,
      config,
      logger,
      instanceName: `bench-${n}`,
      poolSize: options.poolSize,
      handlers: {
        async callbackDue(id) {
          const t = Date.now();
          const seen = starts.get(id);
          if (seen) seen.push(t);
          else starts.set(id, [t]);
        },
        expireRequest: async () => {},
        remindCustomer: async () => {},
        lapseHold: async () => {},
      },
    }),
  );
  const [first] = schedulers;
  if (!first) throw new Error('at least one instance');

  let peakRss = rssMb();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb());
  }, 100);
  try {
    await Promise.all(schedulers.map((s) => s.start()));

    // Schedule well ahead of the first due time, so the figures measure firing, not scheduling.
    const ids = Array.from({ length: count }, (_, i) => `bench-${run}-${i}`);
    const leadMs = 5000 + Math.ceil(count / 2); // ~2,000 schedules a second leaves room
    const t0 = Date.now() + leadMs;
    ids.forEach((id, i) => due.set(id, t0 + Math.floor((i * spreadMs) / count)));
    const schedulingStarted = Date.now();
    await inParallel(ids, 8, (id) => first.scheduleCallback(id, new Date(due.get(id)!)));
    const schedulingMs = Date.now() - schedulingStarted;
    if (Date.now() > t0) logger.warn({ schedulingMs, leadMs }, 'scheduling overran the lead time; lateness includes it');

    const rssMbWithPending = rssMb();

    // Wait for every job (or give up well after the last was due), then leave room for repeats.
    const giveUpAt = t0 + spreadMs + 30_000;
    while (Date.now() < t0) await sleep(50);
    const cpu0 = process.cpuUsage();
    while (starts.size < count && Date.now() < giveUpAt) await sleep(200);
    const cpu = process.cpuUsage(cpu0);
    const fired = starts.size;
    await sleep(2000);

    const lateness: number[] = [];
    let firedOnce = 0;
    let duplicates = 0;
    const missingIds: string[] = [];
    for (const id of ids) {
      const seen = starts.get(id);
      if (!seen) {
        missingIds.push(id);
        continue;
      }
      if (seen.length === 1) firedOnce += 1;
      duplicates += seen.length - 1;
      lateness.push(Math.min(...seen) - due.get(id)!);
    }
    lateness.sort((a, b) => a - b);
    // Leave no bench jobs behind in a database that may be shared.
    await inParallel(missingIds, 8, async (id) => {
      await first.cancelForRequest(id);
    });

    return {
      count,
      firedOnce,
      duplicates,
      missing: missingIds.length,
      p50Ms: percentile(lateness, 50),
      p99Ms: percentile(lateness, 99),
      maxMs: lateness.length ? lateness[lateness.length - 1]! : NaN,
      rssMbWithPending,
      peakRssMb: peakRss,
      schedulingMs,
      spreadMs,
      instances,
      cpuMsPerJob: fired ? Math.round(((cpu.user + cpu.system) / 1000 / fired) * 100) / 100 : null,
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(schedulers.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const count = process.env.BENCH_COUNT ? Number(process.env.BENCH_COUNT) : undefined;
  const instances = process.env.BENCH_INSTANCES ? Number(process.env.BENCH_INSTANCES) : undefined;
  const poolSize = process.env.BENCH_POOL ? Number(process.env.BENCH_POOL) : undefined;
  const direct = process.env.DATABASE_URL;
  const testServer = process.env.TEST_DATABASE_URL;
  if (!direct && !testServer) throw new Error('Set DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server.');
  // A throwaway database on the test server, so a bench run leaves nothing behind.
  const db = direct ? { url: direct, drop: async () => {} } : await openBenchDatabase({ kind: 'server', serverUrl: testServer });
  try {
    const result = await benchSchedulerLateness({ url: db.url, logger, count, instances, poolSize });
    process.stdout.write(`${JSON.stringify({ bench: 'scheduler-lateness', ...result })}\n`);
  } finally {
    await db.drop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
