/**
 * The Agenda backend we run on: `@agendajs/postgres-backend`'s repository and LISTEN/NOTIFY
 * channel on a pool we own, with two changes.
 *
 * - A gate on locking. When the instance stops, it first closes the gate and waits for lock
 *   attempts already sent; only then does it release the locks it holds on jobs it has not
 *   started. Without the gate a lock taken a moment after that release would be held by a
 *   stopped instance until the lock lifetime passes, and the job would fire that much late.
 * - One statement less per fired job. A one-time job that succeeded is saved by Agenda (unlocked,
 *   run times recorded) and deleted right after (`removeOnComplete`); here that last save is
 *   the delete itself, and Agenda's delete that follows is answered without a statement. The
 *   row is gone at the same point of the run as before (rather, one statement sooner), and
 *   nothing reads the saved times of a row about to be deleted.
 * - Wake-ups only. Agenda also broadcasts every job's start/success/complete over NOTIFY so
 *   other processes can re-emit those events; we do not listen to them, and at thousands of
 *   jobs they cost three extra statements per run and a parse in every instance.
 */
import { PostgresJobRepository, PostgresNotificationChannel } from '@agendajs/postgres-backend';
import type { AgendaBackend, JobParameters, JobRepositoryOptions, NotificationChannel, RemoveJobsOptions } from 'agenda';
import type pg from 'pg';
import { JOBS_CHANNEL, JOBS_TABLE } from '../store/job-table.js';

/** Rows locked per statement; see lockBatch. */
const LOCK_BATCH = 100;
/** Locked rows Agenda did not ask for within this long are unlocked again (see lockBatch). */
const BUFFER_RELEASE_MS = 250;

type RowMapper = { rowToJob(row: unknown): JobParameters };

class GatedJobRepository extends PostgresJobRepository {
  private closed = false;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Rows locked by a batch and not yet handed to Agenda, per job name, soonest first. */
  private buffered = new Map<string, JobParameters[]>();
  private releaseTimer: NodeJS.Timeout | null = null;
  /** Jobs whose run succeeded, from Agenda's 'success' event to its save at the end of the run. */
  private readonly succeeded = new Set<string>();
  /** Jobs that save deleted, until Agenda asks to remove them. */
  private readonly deletedAtEnd = new Set<string>();

  constructor(private readonly jobsPool: pg.Pool) {
    super({ pool: jobsPool, tableName: JOBS_TABLE, ensureSchema: true });
  }

  /**
   * Agenda asks for one job at a time and asks again only after the previous lock came back:
   * one statement round trip per job, in one chain per job kind. Measured on a 2-core host that
   * chain tops out at a few hundred locks a second, so with ~700 callbacks due each second they
   * fired seconds late. Locking up to LOCK_BATCH due rows in one statement and handing them out
   * from memory removes that ceiling; the lock condition is Agenda's own.
   */
  override async getNextJobToRun(
    jobName: string,
    nextScanAt: Date,
    lockDeadline: Date,
    now: Date | undefined,
    options: JobRepositoryOptions | undefined,
  ): Promise<JobParameters | undefined> {
    if (this.closed) return undefined;
    const ready = this.buffered.get(jobName);
    if (ready && ready.length > 0) return ready.shift();
    this.inFlight += 1;
    try {
      const rows = await this.lockBatch(jobName, nextScanAt, lockDeadline, now ?? new Date(), options?.lastModifiedBy ?? null);
      // Closed meanwhile: the stopping instance releases every unstarted lock it holds by name.
      if (this.closed) return undefined;
      const first = rows.shift();
      if (rows.length > 0) {
        this.buffered.set(jobName, [...(this.buffered.get(jobName) ?? []), ...rows]);
        this.armRelease();
      }
      return first;
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async lockBatch(jobName: string, nextScanAt: Date, lockDeadline: Date, lockTime: Date, lockedBy: string | null) {
    const { rows } = await this.jobsPool.query(
      // `id = ANY(ARRAY(…))`, not `id IN (…)`: the locked ids are a list the update looks up by
      // primary key; as a semi-join the planner may hash it against a scan of the whole table.
      `UPDATE "${JOBS_TABLE}" SET locked_at = $1, last_modified_by = $5
       WHERE id = ANY(ARRAY(
         SELECT id FROM "${JOBS_TABLE}"
         WHERE name = $2 AND disabled = FALSE
           AND ((locked_at IS NULL AND next_run_at <= $3) OR locked_at <= $4)
         ORDER BY next_run_at ASC NULLS LAST, priority DESC
         LIMIT $6
         FOR UPDATE SKIP LOCKED
       ))
       RETURNING *`,
      [lockTime, jobName, nextScanAt, lockDeadline, lockedBy, LOCK_BATCH],
    );
    // The mapping from row to Agenda's job attributes is the backend's (private in its types).
    const mapper = this as unknown as RowMapper;
    return rows
      .map((row) => mapper.rowToJob(row))
      .sort((a, b) => (a.nextRunAt?.getTime() ?? 0) - (b.nextRunAt?.getTime() ?? 0) || b.priority - a.priority);
  }

  /** Called on Agenda's (local) 'success' event, which comes right before the run's last save. */
  markSucceeded(jobId: string): void {
    this.succeeded.add(jobId);
  }

  /**
   * The last save of a run that succeeded and leaves no next run (a fired one-time job, which
   * Agenda removes next, since the scheduler sets removeOnComplete) deletes the row instead.
   * Any other save (start of a run, lock renewal, a failure, a job due again) is Agenda's own.
   */
  override async saveJobState(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> {
    const id = job._id === undefined ? undefined : String(job._id);
    if (id !== undefined && this.succeeded.delete(id) && !job.nextRunAt && !job.lockedAt) {
      await this.jobsPool.query(`DELETE FROM "${JOBS_TABLE}" WHERE id = $1 AND name = $2`, [id, job.name]);
      // Only once the row is surely gone: if the delete failed, Agenda's own removal runs.
      this.deletedAtEnd.add(id);
      return;
    }
    return super.saveJobState(job, options);
  }

  override async removeJobs(options: RemoveJobsOptions): Promise<number> {
    const keys = Object.keys(options).filter((k) => options[k as keyof RemoveJobsOptions] !== undefined);
    if (keys.length === 1 && options.id !== undefined && this.deletedAtEnd.delete(String(options.id))) return 1;
    return super.removeJobs(options);
  }

  /**
   * Agenda stops asking when it reaches a lock limit; rows left in the buffer then would stay
   * locked by us without ever running, until the lock lifetime passed. Hand them back soon.
   */
  private armRelease(): void {
    if (this.releaseTimer) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      const ids = [...this.buffered.values()].flat().map((j) => String(j._id));
      this.buffered.clear();
      if (ids.length > 0) this.unlockJobs(ids).catch(() => {});
    }, BUFFER_RELEASE_MS);
    this.releaseTimer.unref();
  }

  /** No new locks from now on; resolves once lock attempts already sent have finished. */
  async closeGate(): Promise<void> {
    this.closed = true;
    this.buffered.clear(); // released with the instance's other unstarted locks
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

/** Delegates everything but the job state broadcasts (see above). */
function wakeUpsOnly(inner: PostgresNotificationChannel): NotificationChannel {
  const channel: NotificationChannel = {
    get state() {
      return inner.state;
    },
    connect: () => inner.connect(),
    disconnect: () => inner.disconnect(),
    subscribe: (handler) => inner.subscribe(handler),
    publish: (notification) => inner.publish(notification),
    on(event: 'stateChange' | 'error', listener: (arg: never) => void) {
      inner.on(event, listener as (...args: unknown[]) => void);
      return channel;
    },
    off(event: 'stateChange' | 'error', listener: (arg: never) => void) {
      inner.off(event, listener as (...args: unknown[]) => void);
      return channel;
    },
  } as NotificationChannel;
  return channel;
}

export interface JobsBackend {
  backend: AgendaBackend;
  /** Creates Agenda's table and indexes (idempotent). */
  createAgendaSchema(): Promise<void>;
  closeGate(): Promise<void>;
  /**
   * Tell it on each local 'success' event (see GatedJobRepository.saveJobState); only for an
   * Agenda created with removeOnComplete: true.
   */
  jobSucceeded(jobId: string): void;
  /** Errors of the LISTEN connection (it reconnects by itself). */
  onChannelError(listener: (error: Error) => void): void;
}

/**
 * `connect` is a no-op for Agenda: the scheduler prepares the schema itself, under a lock,
 * before it creates the Agenda instance (Agenda calls connect from its constructor, where a
 * failure would be an unhandled rejection).
 */
export function createJobsBackend(pool: pg.Pool): JobsBackend {
  const repository = new GatedJobRepository(pool);
  const channel = new PostgresNotificationChannel({ pool, channelName: JOBS_CHANNEL, reconnect: { enabled: true } });
  return {
    backend: {
      name: 'PostgreSQL',
      repository,
      notificationChannel: wakeUpsOnly(channel),
      ownsConnection: false,
      connect: async () => {},
      disconnect: async () => {},
    },
    createAgendaSchema: () => repository.connect(),
    closeGate: () => repository.closeGate(),
    jobSucceeded: (jobId) => repository.markSucceeded(jobId),
    onChannelError: (listener) => {
      channel.on('error', listener);
    },
  };
}
