/**
 * Periodic clean-up on a cron schedule (config `jobs.housekeepingCron`): purge expired
 * pre-authentication tokens and challenges, revoke stale sessions, and whatever else the
 * composition root passes in. SPEC: a session id, once ended, "can never authenticate anything
 * again"; expired secrets should not linger in the database either.
 *
 * Every task is an idempotent bulk statement, so each instance runs its own timer: when two
 * instances both run at 12:05 the second finds nothing left to purge.
 */
import cron from 'node-cron';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';

export interface HousekeepingTask {
  /** Short name for the logs, e.g. 'tokens.purgeExpired'. */
  name: string;
  /** Does one round of clean-up as of `now`; returns how many records it purged or revoked. */
  run(now: Date): Promise<number>;
}

export interface HousekeepingOutcome {
  name: string;
  /** Records purged or revoked; null when the task failed. */
  purged: number | null;
  error?: string;
}

/**
 * Runs each task once, in order. A failing task is logged and reported, and does not keep the
 * others from running.
 */
export async function runHousekeepingOnce(
  tasks: readonly HousekeepingTask[],
  now: Date = new Date(),
  logger?: Logger,
): Promise<HousekeepingOutcome[]> {
  const outcomes: HousekeepingOutcome[] = [];
  for (const task of tasks) {
    try {
      outcomes.push({ name: task.name, purged: await task.run(now) });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      logger?.error({ task: task.name, err: error }, 'housekeeping task failed');
      outcomes.push({ name: task.name, purged: null, error });
    }
  }
  return outcomes;
}

export interface HousekeepingOptions {
  cron: string;
  tasks: readonly HousekeepingTask[];
  logger: Logger;
  /** IANA zone the cron expression is read in; default: the process's. */
  timezone?: string;
}

/** Starts the timer; the returned function stops it and waits for a round in progress. */
export function startHousekeeping(options: HousekeepingOptions): () => Promise<void> {
  const log = options.logger.child({ component: 'housekeeping' });
  if (!cron.validate(options.cron)) {
    throw new AppError('validation_failed', `The housekeeping schedule "${options.cron}" is not a valid cron expression.`);
  }
  let inProgress: Promise<void> | null = null;

  const round = async (): Promise<void> => {
    const started = new Date();
    const outcomes = await runHousekeepingOnce(options.tasks, started, log);
    const purged = Object.fromEntries(outcomes.map((o) => [o.name, o.purged]));
    const failed = outcomes.filter((o) => o.error !== undefined).length;
    log.info({ purged, failed, ms: Date.now() - started.getTime() }, 'housekeeping round done');
  };

  const task = cron.schedule(
    options.cron,
    async () => {
      inProgress = round().finally(() => {
        inProgress = null;
      });
      await inProgress;
    },
    {
      name: 'housekeeping',
      // A slow round (a large purge after downtime) must not overlap the next one.
      noOverlap: true,
      timezone: options.timezone,
      logger: {
        info: (message) => log.debug(message),
        warn: (message) => log.warn(message),
        error: (message, err) => log.error({ err: err?.message ?? String(message) }, 'housekeeping timer error'),
        debug: (message) => log.debug(typeof message === 'string' ? message : message.message),
      },
    },
  );
  log.info({ cron: options.cron, tasks: options.tasks.map((t) => t.name) }, 'housekeeping scheduled');

  return async () => {
    await task.stop();
    await task.destroy();
    if (inProgress) await inProgress;
  };
}
