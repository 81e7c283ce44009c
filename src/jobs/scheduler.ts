/**
 * Durable timers for call requests (SPEC "What the system must guarantee": a scheduled callback
 * fires once, on time, even across restarts and with several server instances running).
 *
 * Jobs live in PostgreSQL (Agenda 6 with its PostgreSQL backend), so a job scheduled before a
 * restart fires after it, whichever instance is up. Every instance polls and listens for
 * wake-ups; a job is taken by one instance through an atomic row lock
 * (UPDATE … FOR UPDATE SKIP LOCKED), so two instances never both start it.
 *
 * Agenda is at-least-once: a job whose lock outlives `lockLifetimeMs` (its instance died, or
 * froze) is run again elsewhere. In normal operation that cannot happen here: a running job's
 * lock is renewed while its handler runs, and a stopping instance finishes its running jobs and
 * hands back the ones it took but had not started. The handlers are idempotent anyway (the call
 * request state machine refuses a second expiry).
 *
 * This module knows nothing of call requests beyond their ids: the handlers are passed in.
 */
import { randomUUID } from 'node:crypto';
import { Agenda, exponential, type Job, type JobWithId } from 'agenda';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import { createJobsBackend } from './agenda-backend.js';
import { settleAgendaDebugColours } from './agenda-debug-colours.js';
import { JOB_NAMES, type JobName, type RequestJobName } from '../store/job-names.js';
import { createJobTable, type PendingJob } from '../store/job-table.js';

export type { PendingJob } from '../store/job-table.js';

export interface JobHandlers {
  expireRequest(id: string): Promise<void>;
  remindCustomer(id: string): Promise<void>;
  lapseHold(id: string): Promise<void>;
  callbackDue(id: string): Promise<void>;
  /**
   * Without it this instance does not run transfer jobs (another instance may). `attempt.last`:
   * no retry follows if this run throws, so the handler should report the failure itself.
   */
  transfer?(data: Record<string, unknown>, attempt: TransferAttempt): Promise<void | typeof LEAVE_FOR_ANOTHER_INSTANCE>;
}

/**
 * What a transfer handler returns when the call is held by another instance: the job is put back,
 * due again shortly, without counting as a failure, so that whichever instance takes it next may
 * be the one holding the call. The handler decides when to stop (its stale limit).
 */
export const LEAVE_FOR_ANOTHER_INSTANCE = 'leave' as const;

/** How soon a job left for another instance is due again (plus jitter, so instances take turns). */
const LEAVE_DELAY_MS = 250;

export interface SchedulerOptions {
  /** postgres:// URL of the service's database; the jobs table lives there. */
  url: string;
  config: Config['jobs'];
  logger: Logger;
  handlers: JobHandlers;
  /** Names this instance in the jobs table and the logs (e.g. the host name). */
  instanceName: string;
  /** Connections for job bookkeeping (locks, state saves, scheduling); at least 4. */
  poolSize?: number;
  /** Failed handlers are retried this many times, the first after initialDelayMs, doubling. */
  retry?: { maxRetries?: number; initialDelayMs?: number };
  /** Handlers running at once on this instance, across all kinds. */
  maxConcurrency?: number;
  /** How long stop() waits for running handlers before giving up on them. */
  drainTimeoutMs?: number;
}

export interface Scheduler {
  /** Starts taking due jobs. Scheduling works before start (e.g. in a scheduling-only process). */
  start(): Promise<void>;
  /** Creates the jobs table if needed: the store writes request jobs there with each move. */
  ensureSchema(): Promise<void>;
  /** Stops taking jobs, lets running ones finish, hands back the rest, closes connections. */
  stop(): Promise<void>;
  scheduleExpiry(requestId: string, at: Date): Promise<void>;
  scheduleReminder(requestId: string, at: Date): Promise<void>;
  scheduleCallback(requestId: string, at: Date): Promise<void>;
  /** Runs handlers.transfer(data) at `at` (default: now); returns the job id. */
  scheduleTransfer(data: Record<string, unknown>, at?: Date): Promise<string>;
  /** Removes the request's jobs; returns how many. */
  cancelForRequest(requestId: string): Promise<number>;
  /** The request's jobs still to fire, soonest first. */
  pending(requestId: string): Promise<PendingJob[]>;
}

/** Which run of a transfer job this is: 1 for the first, up to 1 + the retry limit. */
export interface TransferAttempt {
  number: number;
  last: boolean;
}

interface RequestJobData {
  requestId: string;
}

const DEFAULT_POOL_SIZE = 10;
const DEFAULT_MAX_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 2000;
/**
 * Handlers are short (a state change, a push): 100 at once is far more than one instance needs
 * to keep up with thousands of jobs coming due in the same second.
 */
const DEFAULT_MAX_CONCURRENCY = 100;

function checkDate(at: Date, what: string): void {
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new AppError('validation_failed', `The time for the ${what} is not a valid date.`);
  }
}

function checkRequestId(requestId: string): void {
  if (typeof requestId !== 'string' || requestId.length === 0) {
    throw new AppError('validation_failed', 'A job needs the id of its call request.');
  }
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const { config, handlers } = options;
  const log = options.logger.child({ component: 'jobs' });
  settleAgendaDebugColours();
  // Unique per process: stop() releases locks by this name, so it must never be shared with
  // another live instance (two processes started with the same host name, say).
  const source = `${options.instanceName}:${randomUUID().slice(0, 8)}`;
  const maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
  const lockLifetime = config.lockLifetimeMs;

  let stopped = false;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: Math.max(4, options.poolSize ?? DEFAULT_POOL_SIZE),
    application_name: 'knock-jobs',
  });
  // An idle connection that breaks (server restart) must be logged, not crash the process.
  // After stop() the connections are closing anyway; their errors are no news.
  pool.on('error', (err) => {
    if (stopped) log.debug({ err: err.message }, 'jobs database connection closed while stopping');
    else log.warn({ err: err.message }, 'jobs database connection lost');
  });
  const table = createJobTable(pool);
  const jobsBackend = createJobsBackend(pool);
  jobsBackend.onChannelError((err) => log.warn({ err: err.message }, 'job wake-up channel error (reconnecting)'));

  let schemaReady: Promise<void> | null = null;
  function ensureSchema(): Promise<void> {
    schemaReady ??= table.ensureSchema(jobsBackend.createAgendaSchema).catch((e: unknown) => {
      schemaReady = null; // try again on the next call
      throw new AppError('unavailable', `The jobs database cannot be reached: ${(e as Error).message}`);
    });
    return schemaReady;
  }

  function checkOpen(): void {
    if (stopped) throw new AppError('unavailable', 'The scheduler has been stopped.');
  }

  /**
   * Keeps the lock of a running job fresh. Agenda lets another instance take a job whose lock is
   * older than the lock lifetime (that is how jobs of a dead instance are recovered); a handler
   * that is merely slow must not be mistaken for that and run a second time.
   */
  async function withLockKeptAlive(job: Job<unknown>, run: () => Promise<void>): Promise<void> {
    const timer = setInterval(() => {
      job.touch().catch(() => {
        // The row was cancelled or replaced meanwhile: nothing left to keep alive.
      });
    }, Math.max(250, Math.floor(lockLifetime / 3)));
    try {
      await run();
    } finally {
      clearInterval(timer);
    }
  }

  function requestIdOf(job: Job<unknown>): string | undefined {
    const data = job.attrs.data as Partial<RequestJobData> | null;
    return typeof data?.requestId === 'string' ? data.requestId : undefined;
  }

  /** Facts safe to log about a job: never the transfer data (it may carry a session id). */
  function describe(job: Job<unknown> | JobWithId): Record<string, unknown> {
    return {
      job: job.attrs.name,
      jobId: job.attrs._id?.toString(),
      requestId: job.attrs.name === JOB_NAMES.transfer ? undefined : requestIdOf(job),
      failCount: job.attrs.failCount ?? 0,
    };
  }

  function createAgenda(): Agenda {
    const agenda = new Agenda({
      backend: jobsBackend.backend,
      name: source,
      // Each poll locks the jobs due before the next poll and starts each on a local timer at its
      // due time, so a job fires on time, not up to one interval late; a job saved due sooner
      // than the next poll is announced by NOTIFY. The interval bounds how late a job can be when
      // a wake-up was missed (the channel was reconnecting).
      processEvery: config.processEveryMs,
      // A lock older than this is considered abandoned (its instance died) and the job is run
      // elsewhere: it bounds how late a dead instance's jobs fire. Live runs renew their lock
      // (withLockKeptAlive), so it does not bound how long a handler may take.
      defaultLockLifetime: lockLifetime,
      maxConcurrency,
      defaultConcurrency: maxConcurrency,
      // How many jobs of one kind an instance may hold locked (running or waiting for their due
      // time within the next poll). High enough that one poll takes every job due before the next
      // one even when thousands come due together; bounded so that, in a burst, jobs beyond it are
      // left for other instances instead of queuing behind this one's concurrency.
      defaultLockLimit: 5000,
      lockLimit: 0,
      // A fired one-time job has nothing left to say; failed jobs that gave up stay for inspection.
      removeOnComplete: true,
    });

    const maxRetries = options.retry?.maxRetries ?? DEFAULT_MAX_RETRIES;
    const backoff = exponential({
      delay: options.retry?.initialDelayMs ?? DEFAULT_RETRY_DELAY_MS,
      factor: 2,
      maxRetries,
      jitter: 0.1,
    });
    const requestJob = (name: RequestJobName, handler: (id: string) => Promise<void>) => {
      agenda.define<RequestJobData>(
        name,
        async (job) => {
          const requestId = requestIdOf(job as Job<unknown>);
          if (!requestId) throw new Error(`job ${name} has no request id`);
          await withLockKeptAlive(job as Job<unknown>, () => handler(requestId));
        },
        { backoff },
      );
    };
    requestJob(JOB_NAMES.expire, (id) => handlers.expireRequest(id));
    requestJob(JOB_NAMES.remind, (id) => handlers.remindCustomer(id));
    requestJob(JOB_NAMES.lapse, (id) => handlers.lapseHold(id));
    requestJob(JOB_NAMES.callback, (id) => handlers.callbackDue(id));
    const transfer = handlers.transfer;
    if (transfer) {
      agenda.define<Record<string, unknown>>(
        JOB_NAMES.transfer,
        async (job) => {
          // Agenda counts failed runs; after maxRetries of them the backoff gives up.
          const failed = job.attrs.failCount ?? 0;
          const attempt: TransferAttempt = { number: failed + 1, last: failed >= maxRetries };
          let left = false;
          await withLockKeptAlive(job as Job<unknown>, async () => {
            left = (await transfer(job.attrs.data ?? {}, attempt)) === LEAVE_FOR_ANOTHER_INSTANCE;
          });
          if (left) {
            // Saved with the run's end: unlocked and due again, not removed, no failure counted.
            job.attrs.nextRunAt = new Date(Date.now() + LEAVE_DELAY_MS + Math.floor(Math.random() * config.processEveryMs));
            log.debug({ ...describe(job as Job<unknown>) }, 'transfer job left for the instance holding the call');
          }
        },
        { backoff },
      );
    }

    // With removeOnComplete, the backend deletes a succeeded one-time job in place of its last save.
    agenda.on('success', (job: JobWithId, remote?: boolean) => {
      if (!remote && job.attrs._id !== undefined) jobsBackend.jobSucceeded(String(job.attrs._id));
    });
    agenda.on('fail', (err: Error | string, job: JobWithId, remote?: boolean) => {
      if (remote) return;
      log.warn({ ...describe(job), err: err instanceof Error ? err.message : String(err) }, 'job handler failed');
    });
    agenda.on('retry', (job: JobWithId, details: { attempt: number; nextRunAt: Date }, remote?: boolean) => {
      if (remote) return;
      log.info({ ...describe(job), attempt: details.attempt, retryAt: details.nextRunAt.toISOString() }, 'job retry scheduled');
    });
    agenda.on('retry exhausted', (err: Error, job: JobWithId) => {
      log.error({ ...describe(job), err: err.message }, 'job gave up after its last retry; it stays in the jobs table as failed');
    });
    agenda.on('error', (err: Error) => {
      // A job cancelled or replaced after this instance locked it finds no row when it starts;
      // that is the expected outcome of the cancellation, not a fault.
      if (/does not exist anymore/.test(err.message)) {
        log.debug({ err: err.message }, 'job was cancelled or replaced before it started');
      } else {
        log.error({ err: err.message }, 'job processing error');
      }
    });
    return agenda;
  }

  let agenda: Agenda | null = null;
  let starting: Promise<void> | null = null;

  async function scheduleFor(name: RequestJobName, requestId: string, at: Date): Promise<void> {
    checkRequestId(requestId);
    checkDate(at, name);
    checkOpen();
    await ensureSchema();
    await table.replaceForRequest(name, requestId, at, source);
    log.debug({ job: name, requestId, at: at.toISOString() }, 'job scheduled');
  }

  return {
    async ensureSchema() {
      checkOpen();
      await ensureSchema();
    },

    async start() {
      checkOpen();
      starting ??= (async () => {
        await ensureSchema();
        agenda = createAgenda();
        await agenda.start();
        if (!handlers.transfer) log.info('no transfer handler: this instance does not run call.transfer jobs');
        log.info(
          { instance: source, processEveryMs: config.processEveryMs, lockLifetimeMs: lockLifetime, maxConcurrency },
          'job scheduler started',
        );
      })();
      await starting;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        if (starting) await starting.catch(() => {});
        if (agenda) {
          // Order matters: no new locks, then let running handlers finish, then hand back what
          // was locked but not started. Releasing first could race with a lock taken after it.
          await jobsBackend.closeGate();
          const drained = await agenda.drain({ timeout: options.drainTimeoutMs ?? lockLifetime, closeConnection: false });
          if (drained.timedOut) {
            log.warn({ stillRunning: drained.running }, 'stopped while jobs were still running; another instance takes them over after the lock lifetime');
          }
          const released = await table.releaseUnstartedLocks(source);
          log.info({ completed: drained.completed, handedBack: released }, 'job scheduler stopped');
        }
      } finally {
        agenda = null;
        await pool.end();
      }
    },

    scheduleExpiry: (requestId, at) => scheduleFor(JOB_NAMES.expire, requestId, at),
    scheduleReminder: (requestId, at) => scheduleFor(JOB_NAMES.remind, requestId, at),
    scheduleCallback: (requestId, at) => scheduleFor(JOB_NAMES.callback, requestId, at),

    async scheduleTransfer(data, at = new Date()) {
      checkDate(at, 'transfer');
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw new AppError('validation_failed', 'Transfer job data must be an object.');
      }
      checkOpen();
      await ensureSchema();
      const id = await table.insert(JOB_NAMES.transfer, data, at, source);
      log.debug({ job: JOB_NAMES.transfer, jobId: id, at: at.toISOString() }, 'job scheduled');
      return id;
    },

    async cancelForRequest(requestId) {
      checkRequestId(requestId);
      checkOpen();
      await ensureSchema();
      const removed = await table.cancelForRequest(requestId);
      if (removed > 0) log.debug({ requestId, removed }, 'jobs cancelled');
      return removed;
    },

    async pending(requestId) {
      checkRequestId(requestId);
      checkOpen();
      await ensureSchema();
      return table.pendingFor(requestId);
    },
  };
}

export type { JobName };
