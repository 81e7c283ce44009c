/**
 * Housekeeping on a cron schedule (node-cron): purge expired tokens and challenges, revoke stale
 * sessions, rotate signing keys. Each instance runs it; every task is an idempotent bulk
 * statement, so two instances doing it at once is harmless.
 */
import cron from 'node-cron';
import type { Logger } from 'pino';

export interface HousekeepingTask {
  name: string;
  /** Returns how many things it cleaned up. */
  run(now: Date): Promise<number>;
}

export async function runHousekeepingOnce(tasks: HousekeepingTask[], now: Date, logger?: Logger): Promise<Record<string, number>> {
  const done: Record<string, number> = {};
  for (const task of tasks) {
    try {
      done[task.name] = await task.run(now);
    } catch (err) {
      // One failing task must not stop the others; it is retried at the next tick.
      logger?.error({ err, task: task.name }, 'housekeeping task failed');
      done[task.name] = -1;
    }
  }
  return done;
}

export function startHousekeeping(opts: { cron: string; tasks: HousekeepingTask[]; logger: Logger }): () => void {
  if (!cron.validate(opts.cron)) throw new Error(`jobs.housekeepingCron: "${opts.cron}" is not a valid cron expression`);
  const log = opts.logger.child({ component: 'housekeeping' });
  const job = cron.schedule(opts.cron, async () => {
    const done = await runHousekeepingOnce(opts.tasks, new Date(), log);
    log.info({ done }, 'housekeeping ran');
  });
  return () => {
    job.stop();
  };
}
