/**
 * Scheduler lateness with the service around it: the service is started as usual (HTTP, store,
 * key ring) but with its own job runner off, and benchSchedulerLateness runs its scheduler in
 * the same process. (The service's own runner is off because it would take the benchmark's
 * callback jobs and run the real handler, which knows no such requests.) Then the memory figure
 * of the target: the service as `npm start` runs it, with the callbacks pending
 * (scheduler-memory.ts); this process's own RSS (under tsx, with the benchmark's scheduler) is
 * reported beside it.
 */
import { devNull } from 'node:os';
import { pino } from 'pino';
import { loadConfig } from '../src/config/load-config.js';
import { startService } from '../src/service.js';
import { openBenchDatabase, type BenchTarget } from './bench-database.js';
import { benchSchedulerLateness, type LatenessResult } from './scheduler-lateness.js';
import { measureServiceMemory, type ServiceMemoryResult } from './scheduler-memory.js';
import { benchPeerQueue, type PeerLatenessResult } from './scheduler-peer.js';

export interface SchedulerBenchOptions {
  count: number;
  spreadMs?: number;
  /** Also run the same callbacks through the peer queue (graphile-worker) on the same database. */
  peer?: boolean;
}

export interface SchedulerBenchResult extends LatenessResult {
  /** RSS of the idle service before any job was scheduled. */
  serviceBaselineRssMb: number;
  /**
   * Jobs fired per second, roughly: all of them between the first due time and the last fire
   * (spread + max lateness). When lateness grows through the run, this is the ceiling.
   */
  firedPerSecond: number;
  elapsedMs: number;
  /**
   * The memory figure of the target: the service as `npm start` runs it (compiled, its own
   * process, database included) with `count` callbacks pending. The RSS fields above are those of
   * this benchmark process (service, database, the benchmark's scheduler, under tsx).
   */
  startedService: ServiceMemoryResult | { error: string };
  /** The same callbacks through a peer job queue on the same PostgreSQL (the baseline). */
  peer?: PeerLatenessResult | { error: string };
}

const rssMb = () => Math.round((process.memoryUsage().rss / 1048576) * 10) / 10;

export async function runSchedulerBench(target: BenchTarget, options: SchedulerBenchOptions): Promise<SchedulerBenchResult> {
  const started = performance.now();
  let lateness: Omit<SchedulerBenchResult, 'elapsedMs' | 'startedService'>;
  const db = await openBenchDatabase(target);
  try {
    const config = loadConfig({ DATABASE_URL: db.url, KNOCK_SERVER__PORT: '0', KNOCK_METRICS__LISTEN: '127.0.0.1:0', LOG_LEVEL: 'warn' });
    const quiet = pino({ level: 'warn' }, pino.destination({ dest: devNull, sync: false }));
    const service = await startService(config, { logger: quiet, instanceName: 'bench-service', runJobs: false });
    try {
      const serviceBaselineRssMb = rssMb();
      const logger = pino({ level: 'warn' }, pino.destination(2));
      const result = await benchSchedulerLateness({
        url: db.url,
        logger,
        count: options.count,
        ...(options.spreadMs ? { spreadMs: options.spreadMs } : {}),
        config: config.jobs,
      });
      const firedPerSecond = Math.round((result.count - result.missing) / ((result.spreadMs + Math.max(0, result.maxMs)) / 1000));
      lateness = { ...result, serviceBaselineRssMb, firedPerSecond };
    } finally {
      await service.stop();
    }
    // The peer queue on the same database, after the service has stopped (this process is then
    // the queue's alone), with the same callbacks over the same window.
    if (options.peer && target.kind === 'server') {
      lateness.peer = await benchPeerQueue({ url: db.url, count: options.count, spreadMs: lateness.spreadMs, pollIntervalMs: config.jobs.processEveryMs }).catch((e: unknown) => ({
        error: (e as Error).message,
      }));
    }
  } finally {
    await db.drop();
  }
  const startedService = await measureServiceMemory(target, options.count).catch((e: unknown) => ({ error: (e as Error).message }));
  return { ...lateness, startedService, elapsedMs: Math.round(performance.now() - started) };
}
