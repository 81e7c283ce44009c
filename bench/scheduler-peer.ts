/**
 * The scheduler's peer-queue baseline: the same callbacks (count, due times spread evenly over
 * the same window) through graphile-worker 0.17 on the same PostgreSQL database, lateness
 * measured the same way (handler start − due time), exactly-once counted the same way. Its
 * poll interval is the service's own (`jobs.processEveryMs`), its concurrency Agenda's default,
 * so both queues wait as long for a job that came due between two looks.
 */
import { randomBytes } from 'node:crypto';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import type { FiringFigures } from './scheduler-lateness.js';
import { percentile } from './stats.js';

export interface PeerLatenessResult extends FiringFigures {
  name: string;
  /** This process's CPU from the first due time to the last fire, per job. */
  cpuMsPerJob: number | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** graphile-worker's own log lines are not the figures: warnings and errors only, to stderr. */
const quietLogger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`[graphile-worker] ${level}: ${message}\n`);
});

export async function benchPeerQueue(opts: { url: string; count: number; spreadMs: number; pollIntervalMs: number; concurrency?: number }): Promise<PeerLatenessResult> {
  const { url, count, spreadMs } = opts;
  const runId = randomBytes(4).toString('hex');
  const starts = new Map<string, number[]>();
  const utils = await makeWorkerUtils({ connectionString: url, logger: quietLogger });
  try {
    await utils.migrate();
    const ids = Array.from({ length: count }, (_, i) => `peer-${runId}-${i}`);
    const leadMs = 5000 + Math.ceil(count / 2);
    const t0 = Date.now() + leadMs;
    const due = new Map(ids.map((id, i) => [id, t0 + Math.floor((i * spreadMs) / count)]));
    for (let i = 0; i < ids.length; i += 500) {
      await utils.addJobs(ids.slice(i, i + 500).map((id) => ({ identifier: 'callback', payload: { id }, runAt: new Date(due.get(id)!) })));
    }
    const runner = await run({
      connectionString: url,
      concurrency: opts.concurrency ?? 5,
      pollInterval: opts.pollIntervalMs,
      noHandleSignals: true,
      logger: quietLogger,
      taskList: {
        callback: async (payload) => {
          const t = Date.now();
          const id = (payload as { id: string }).id;
          const seen = starts.get(id);
          if (seen) seen.push(t);
          else starts.set(id, [t]);
        },
      },
    });
    try {
      while (Date.now() < t0) await sleep(50);
      const cpu0 = process.cpuUsage();
      const giveUpAt = t0 + spreadMs + 30_000;
      while (starts.size < count && Date.now() < giveUpAt) await sleep(100);
      const cpu = process.cpuUsage(cpu0);
      const firedAll = starts.size;
      await sleep(2000);
      const lateness: number[] = [];
      let firedOnce = 0;
      let duplicates = 0;
      let missing = 0;
      for (const id of ids) {
        const seen = starts.get(id);
        if (!seen) {
          missing += 1;
          continue;
        }
        if (seen.length === 1) firedOnce += 1;
        duplicates += seen.length - 1;
        lateness.push(Math.min(...seen) - due.get(id)!);
      }
      lateness.sort((a, b) => a - b);
      return {
        name: 'graphile-worker 0.17',
        count,
        firedOnce,
        duplicates,
        missing,
        p50Ms: percentile(lateness, 50),
        p99Ms: percentile(lateness, 99),
        maxMs: lateness.length ? lateness[lateness.length - 1]! : NaN,
        cpuMsPerJob: firedAll ? Math.round(((cpu.user + cpu.system) / 1000 / firedAll) * 100) / 100 : null,
      };
    } finally {
      await runner.stop();
    }
  } finally {
    await utils.release();
  }
}
