/**
 * Our own statements on Agenda's jobs table, for what Agenda's API cannot do without a race:
 *
 * - replacing a request's pending job of one kind (Agenda's `unique()` is a SELECT followed by an
 *   UPDATE or INSERT: two concurrent calls can insert two rows, and updating a row that is running
 *   has its new time overwritten when the run finishes); here it is one upsert on a unique index;
 * - listing and cancelling a request's jobs by the request id inside the job data;
 * - releasing the locks this instance holds on jobs it took but never started, when it stops.
 *
 * The table layout is the one `@agendajs/postgres-backend` creates (see its schema.js); rows we
 * insert are ordinary one-time Agenda jobs, and every insert sends the same LISTEN/NOTIFY wake-up
 * Agenda sends on save, so an instance picks up a job due right away without waiting for a poll.
 */
import type pg from 'pg';
import { JOB_NAMES, type JobName, type RequestJobName } from './job-names.js';

/** A pool, or a client inside a transaction (the store runs these in a move's transaction). */
type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

export const JOBS_TABLE = 'agenda_jobs';
export const JOBS_CHANNEL = 'agenda_jobs';

/** Index predicate: the kinds that are unique per request (not transfers). */
const REQUEST_KINDS = `name IN ('${JOB_NAMES.expire}', '${JOB_NAMES.remind}', '${JOB_NAMES.lapse}', '${JOB_NAMES.callback}')`;

export interface PendingJob {
  name: JobName;
  /** When it is due (for a failed job waiting for its retry: when the retry is due). */
  at: Date;
  /** Failed runs so far. */
  failedAttempts: number;
}

export interface JobTable {
  /**
   * Creates the table (through Agenda's own schema code, passed in) and our index, serialised
   * across instances: concurrent `CREATE ... IF NOT EXISTS` statements can still collide.
   */
  ensureSchema(createAgendaSchema: () => Promise<void>): Promise<void>;
  /** Leaves exactly one job of this kind for the request, due at `at` (atomic, race-free). */
  replaceForRequest(name: RequestJobName, requestId: string, at: Date, source: string): Promise<string>;
  /** Inserts one more job (no replacement); returns its id. */
  insert(name: JobName, data: Record<string, unknown>, at: Date, source: string): Promise<string>;
  /** Removes every job of the request (pending, waiting for a retry, or in flight). */
  cancelForRequest(requestId: string): Promise<number>;
  pendingFor(requestId: string): Promise<PendingJob[]>;
  /** Unlocks jobs the named instance locked but did not start, so another instance takes them now. */
  releaseUnstartedLocks(source: string): Promise<number>;
}

export function createJobTable(pool: pg.Pool): JobTable {
  const t = `"${JOBS_TABLE}"`;

  return {
    async ensureSchema(createAgendaSchema) {
      const client = await pool.connect();
      try {
        await client.query(`SELECT pg_advisory_lock(hashtextextended('knock:jobs:schema', 0))`);
        try {
          await createAgendaSchema();
          await client.query(`CREATE INDEX IF NOT EXISTS "${JOBS_TABLE}_request_id_idx" ON ${t} ((data->>'requestId'))`);
          // At most one job of each request kind per request: what makes replaceForRequest race-free.
          await client.query(
            `CREATE UNIQUE INDEX IF NOT EXISTS "${JOBS_TABLE}_request_kind_idx" ON ${t} (name, (data->>'requestId')) WHERE ${REQUEST_KINDS}`,
          );
        } finally {
          await client.query(`SELECT pg_advisory_unlock(hashtextextended('knock:jobs:schema', 0))`);
        }
      } finally {
        client.release();
      }
    },

    replaceForRequest: (name, requestId, at, source) => replaceRequestJob(pool, name, requestId, at, source),

    async insert(name, data, at, source) {
      // The wake-up is sent by the same statement, so it is delivered only if the row commits.
      const { rows } = await pool.query<{ id: string }>(
        `WITH ins AS (
           INSERT INTO ${t} (name, priority, next_run_at, type, data, disabled, fork, last_modified_by)
           VALUES ($1, 0, $2, 'normal', $3::jsonb, FALSE, FALSE, $4)
           RETURNING id, name
         )
         SELECT id, pg_notify($5, json_build_object('jobId', id, 'jobName', name, 'nextRunAt', $6::text,
           'priority', 0, 'timestamp', $7::text, 'source', $4::text)::text)
         FROM ins`,
        [name, at, JSON.stringify(data), source, JOBS_CHANNEL, at.toISOString(), new Date().toISOString()],
      );
      return rows[0]!.id;
    },

    async cancelForRequest(requestId) {
      const res = await pool.query(`DELETE FROM ${t} WHERE data->>'requestId' = $1`, [requestId]);
      return res.rowCount ?? 0;
    },

    async pendingFor(requestId) {
      const { rows } = await pool.query<{ name: JobName; next_run_at: Date; fail_count: number | null }>(
        `SELECT name, next_run_at, fail_count FROM ${t}
         WHERE data->>'requestId' = $1 AND next_run_at IS NOT NULL AND disabled = FALSE
         ORDER BY next_run_at, name`,
        [requestId],
      );
      return rows.map((r) => ({ name: r.name, at: r.next_run_at, failedAttempts: r.fail_count ?? 0 }));
    },

    async releaseUnstartedLocks(source) {
      // A started run sets next_run_at to NULL (Agenda's Job.run), so "next_run_at IS NOT NULL"
      // keeps the locks of runs still in progress; those are released when they finish.
      const res = await pool.query(
        `UPDATE ${t} SET locked_at = NULL
         WHERE locked_at IS NOT NULL AND next_run_at IS NOT NULL AND last_modified_by = $1`,
        [source],
      );
      return res.rowCount ?? 0;
    },
  };
}

/**
 * Leaves exactly one job of this kind for the request, due at `at`: one upsert on the unique
 * index, so concurrent calls end with one row. An existing row is reset to a fresh pending job
 * under a NEW id: if that row is locked or running right now, Agenda's later saves of it (by the
 * old id) find nothing, so the run can neither clear the new time nor queue a retry of the
 * superseded job, and a locked-but-unstarted copy never starts. The wake-up is a pg_notify in
 * the same statement: PostgreSQL delivers it only when the surrounding transaction commits.
 */
export async function replaceRequestJob(db: Queryable, name: RequestJobName, requestId: string, at: Date, source: string): Promise<string> {
  const t = `"${JOBS_TABLE}"`;
  const { rows } = await db.query<{ id: string }>(
    `WITH up AS (
       INSERT INTO ${t} AS j (name, priority, next_run_at, type, data, disabled, fork, last_modified_by)
       VALUES ($1, 0, $2, 'normal', jsonb_build_object('requestId', $3::text), FALSE, FALSE, $4)
       ON CONFLICT (name, (data->>'requestId')) WHERE ${REQUEST_KINDS}
       DO UPDATE SET id = gen_random_uuid(), next_run_at = EXCLUDED.next_run_at, data = EXCLUDED.data,
         locked_at = NULL, last_run_at = NULL, last_finished_at = NULL, failed_at = NULL,
         fail_count = NULL, fail_reason = NULL, progress = NULL, disabled = FALSE,
         last_modified_by = EXCLUDED.last_modified_by
       RETURNING j.id, j.name
     )
     SELECT id, pg_notify($5, json_build_object('jobId', id, 'jobName', name, 'nextRunAt', $6::text,
       'priority', 0, 'timestamp', $7::text, 'source', $4::text)::text)
     FROM up`,
    [name, at, requestId, source, JOBS_CHANNEL, at.toISOString(), new Date().toISOString()],
  );
  return rows[0]!.id;
}

/** Removes the request's pending jobs of these kinds (running ones too: their later saves find nothing). */
export async function dropRequestJobs(db: Queryable, requestId: string, names: readonly RequestJobName[]): Promise<number> {
  if (names.length === 0) return 0;
  const res = await db.query(`DELETE FROM "${JOBS_TABLE}" WHERE data->>'requestId' = $1 AND name = ANY($2::text[])`, [requestId, names]);
  return res.rowCount ?? 0;
}

/**
 * How a request job counts as present for the reconciler: it is running or locked (its time is
 * no longer in next_run_at), waiting for a retry after a failure, or pending at exactly `due`.
 * `j` is the jobs table's alias, `due` an SQL expression.
 */
export function requestJobPresentSql(j: string, due: string): string {
  return `(${j}.locked_at IS NOT NULL OR (${j}.fail_count > 0 AND ${j}.next_run_at IS NOT NULL) OR ${j}.next_run_at = ${due})`;
}
