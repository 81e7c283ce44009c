/**
 * Call requests (SPEC core flow 1). Creation is idempotent and update is compare-and-set on
 * version, so concurrent answers from the app, the agent and the jobs resolve to one outcome.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuthMethod, CallRequestSnapshot, CallRequestState, Outcome } from '../../domain/call-request.js';
import { AppError } from '../../domain/errors.js';
import type { CallRequest } from '../../domain/model.js';
import { dropRequestJobs, JOBS_TABLE, replaceRequestJob, requestJobPresentSql } from '../job-table.js';
import type { CallRequestRepo, JobGap, MoveEffects, NewAuditEntry, NewCallRequest, RequestJobKind } from '../store.js';
import { auditAppendArgs, auditAppendCall } from './audit-repo.js';
import { insertOutbox } from './outbox-repo.js';
import { clampLimit, isUuid, prepared, query, transaction, type Db } from './sql.js';

/** Names the rows a move writes in the jobs table (Agenda's last_modified_by). */
const JOB_SOURCE = 'store';

/**
 * The one write path's second half, on the move's transaction: the request's jobs and its
 * outbox rows. Jobs dropped first: a kind that is both dropped and set ends set.
 */
async function writeEffects(db: Db, requestId: string, effects: MoveEffects): Promise<void> {
  const set = effects.setJobs ?? [];
  const drop = (effects.dropJobs ?? []).filter((k) => !set.some((j) => j.name === k));
  await dropRequestJobs(db, requestId, drop);
  for (const job of set) await replaceRequestJob(db, job.name, requestId, job.at, JOB_SOURCE);
  await insertOutbox(db, requestId, effects.notify ?? [], new Date());
}

/**
 * Audit entries appended on the transaction, last: audit_log_append takes the chain's lock until
 * commit, so it is held for the shortest time.
 */
async function appendAudit(db: Db, entries: readonly NewAuditEntry[]): Promise<void> {
  for (const e of entries) await db.query(`SELECT (${auditAppendCall(1)}).seq`, auditAppendArgs(e).args);
}

function hasEffects(effects: MoveEffects | undefined): effects is MoveEffects {
  return !!effects && ((effects.setJobs?.length ?? 0) > 0 || (effects.dropJobs?.length ?? 0) > 0 || (effects.notify?.length ?? 0) > 0);
}

export interface CallRequestRow {
  id: string;
  reference: string;
  reason: string;
  customer_id: string;
  group_id: string | null;
  agent_id: string;
  state: CallRequestState;
  answer_deadline: Date;
  accepted_device_id: string | null;
  auth_method: AuthMethod | null;
  authenticated_at: Date | null;
  scheduled_for: Date | null;
  schedule_note: string | null;
  snooze_until: Date | null;
  hold_until: Date | null;
  attempts: number;
  outcome: Outcome | null;
  requested_at: Date;
  created_by: string;
  version: number;
  updated_at: Date;
}

export function toCallRequest(r: CallRequestRow): CallRequest {
  return {
    id: r.id,
    reference: r.reference,
    reason: r.reason,
    customerId: r.customer_id,
    groupId: r.group_id,
    agentId: r.agent_id,
    state: r.state,
    answerDeadline: r.answer_deadline,
    acceptedDeviceId: r.accepted_device_id,
    authMethod: r.auth_method,
    authenticatedAt: r.authenticated_at,
    scheduledFor: r.scheduled_for,
    scheduleNote: r.schedule_note,
    snoozeUntil: r.snooze_until,
    holdUntil: r.hold_until,
    attempts: r.attempts,
    outcome: r.outcome,
    requestedAt: r.requested_at,
    createdBy: r.created_by,
    version: r.version,
    updatedAt: r.updated_at,
  };
}

/** States in which a request still occupies its customer+agent pair (see call_requests_one_open). */
const CLOSED_STATES = ['ended', 'cancelled'];
/** States of a callback that still holds its slot. */
const PENDING_CALLBACK_STATES = ['scheduled', 'due', 'prompted', 'agent_dialled'];

/**
 * The columns the record is made of. Prepared statements name them rather than `*`: a column
 * added by a later migration would otherwise change a prepared statement's result type and make
 * PostgreSQL refuse it on connections of instances still running.
 */
const COLUMNS = `id, reference, reason, customer_id, group_id, agent_id, state, answer_deadline, accepted_device_id,
  auth_method, authenticated_at, scheduled_for, schedule_note, snooze_until, attempts, outcome, requested_at,
  created_by, version, updated_at, hold_until`;

/**
 * The same columns of a table aliased `alias`, for statements that join call_requests; with
 * `prefix`, each is renamed `<prefix><column>` (where the other table has columns of the same
 * names), for `unprefixedRequestRow` to read back.
 */
export function requestColumns(alias: string, prefix?: string): string {
  return COLUMNS.split(',')
    .map((c) => `${alias}.${c.trim()}${prefix ? ` AS ${prefix}${c.trim()}` : ''}`)
    .join(', ');
}

/** The call request in a row selected with requestColumns(alias, prefix); null when its id is. */
export function unprefixedRequestRow(row: Record<string, unknown>, prefix: string): CallRequestRow | null {
  if (row[`${prefix}id`] == null) return null;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) if (key.startsWith(prefix)) out[key.slice(prefix.length)] = value;
  return out as unknown as CallRequestRow;
}

/** The id is chosen by the caller ($19), so an audit entry written with the row can name it. */
const INSERT = `INSERT INTO call_requests (reference, reason, customer_id, group_id, agent_id, state, answer_deadline,
     accepted_device_id, auth_method, authenticated_at, scheduled_for, schedule_note, snooze_until,
     attempts, outcome, requested_at, created_by, idempotency_key, id, idempotency_fingerprint, hold_until)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
   ON CONFLICT DO NOTHING
   RETURNING ${COLUMNS}`;

/** INSERT that also appends `n` audit entries (parameters from $22), only for the row it inserted. */
function insertAudited(n: number): string {
  return `WITH ins AS (${INSERT}), ${auditSteps('ins', 22, n)} SELECT ins.* FROM ins, a${n - 1}`;
}

/**
 * CTEs a0 … a(n-1) appending `n` audit entries (parameters from `first`, 8 per entry) once per
 * row of `from`, in order: each append reads the row the previous one produced, so PostgreSQL has
 * to run them one after the other. The statement must select from a(n-1) for them to run.
 */
function auditSteps(from: string, first: number, n: number): string {
  return Array.from({ length: n }, (_, i) => `a${i} AS (SELECT (${auditAppendCall(first + 8 * i)}).seq FROM ${i === 0 ? from : `a${i - 1}`})`).join(
    ', ',
  );
}

/** Compare-and-set on version ($1 id, $2 version, $3-$14 the snapshot), plus `also` as a further condition. */
function updateStatement(also = ''): string {
  return `UPDATE call_requests SET
     state = $3, answer_deadline = $4, agent_id = $5, accepted_device_id = $6, auth_method = $7,
     authenticated_at = $8, scheduled_for = $9, schedule_note = $10, snooze_until = $11, attempts = $12,
     outcome = $13, hold_until = $14, version = version + 1, updated_at = now()
   WHERE id = $1 AND version = $2${also}
   RETURNING ${COLUMNS}`;
}
const UPDATE = updateStatement();

/**
 * Call setup in one statement: the token ($15 jti, $16 dialog, $17 now) is spent as
 * TokenRepo.consume spends it, and only if it was, the request moves (compare-and-set) and `n`
 * audit entries (from $18) are appended. One row: whether the token was spent, and the moved
 * request's columns (NULL when the compare-and-set lost or the token was not spent).
 */
function updateSpendingToken(n: number): string {
  return `WITH spent AS (
      UPDATE issued_tokens SET consumed_at = $17, dialog_id = $16
      WHERE jti = $15 AND consumed_at IS NULL AND expires_at > $17
      RETURNING jti),
    moved AS (${updateStatement(' AND EXISTS (SELECT 1 FROM spent)')}),
    ${auditSteps('moved', 18, n)}
    SELECT EXISTS (SELECT 1 FROM spent) AS spent, done.*
      FROM (SELECT 1) AS one LEFT JOIN (SELECT moved.* FROM moved, a${n - 1}) AS done ON true`;
}

/**
 * An accept in one statement: the compare-and-set update with its audit entry (from $15), and the
 * challenge (from $23) inserted once per row the update wrote.
 */
const UPDATE_ISSUING_CHALLENGE = `WITH moved AS (${UPDATE}),
    ${auditSteps('moved', 15, 1)},
    issued AS (
      INSERT INTO challenges (id, device_id, call_request_id, purpose, value, expires_at)
      SELECT $23, $24, moved.id, $25, $26, $27 FROM moved, a0
      RETURNING id)
  SELECT moved.* FROM moved, issued`;

function updateValues(id: string, expectedVersion: number, next: CallRequestSnapshot): unknown[] {
  return [
    id,
    expectedVersion,
    next.state,
    next.answerDeadline,
    next.agentId,
    next.acceptedDeviceId,
    next.authMethod,
    next.authenticatedAt,
    next.scheduledFor,
    next.scheduleNote,
    next.snoozeUntil,
    next.attempts,
    next.outcome,
    next.holdUntil ?? null,
  ];
}

export function callRequestRepo(pool: pg.Pool): CallRequestRepo {
  return {
    async create(r: NewCallRequest, audit?: (requestId: string) => NewAuditEntry[], effects?: (requestId: string) => MoveEffects) {
      // A conflicting row can end between our INSERT and SELECT; then the insert is retried.
      for (let attempt = 0; attempt < 5; attempt++) {
        const id = randomUUID();
        const values: unknown[] = [
          r.reference,
          r.reason,
          r.customerId,
          r.groupId,
          r.agentId,
          r.state,
          r.answerDeadline,
          r.acceptedDeviceId,
          r.authMethod,
          r.authenticatedAt,
          r.scheduledFor,
          r.scheduleNote,
          r.snoozeUntil,
          r.attempts,
          r.outcome,
          r.requestedAt,
          r.createdBy,
          r.idempotencyKey,
          id,
          r.idempotencyFingerprint ?? null,
          r.holdUntil ?? null,
        ];
        const entries = audit?.(id) ?? [];
        const implied = effects?.(id);
        // With effects: the row, its jobs, its outbox rows and its audit entries in one transaction.
        const inserted = hasEffects(implied)
          ? await transaction(pool, async (c) => {
              const res = await c.query<CallRequestRow>(INSERT, values);
              if (res.rows[0]) {
                await writeEffects(c, id, implied);
                await appendAudit(c, entries);
              }
              return res;
            })
          : entries.length > 0
            ? await prepared<CallRequestRow>(pool, `call_requests_insert_audited_${entries.length}`, insertAudited(entries.length), [
                ...values,
                ...entries.flatMap((e) => auditAppendArgs(e).args),
              ])
            : await prepared<CallRequestRow>(pool, 'call_requests_insert', INSERT, values);
        if (inserted.rows[0]) return { request: toCallRequest(inserted.rows[0]), created: true };

        // The same idempotency key wins over "an open request for the pair" when both match.
        const existing = await query<CallRequestRow & { same_key: boolean; idempotency_fingerprint: string | null }>(
          pool,
          `SELECT *, ($1::text IS NOT NULL AND created_by = $2 AND idempotency_key = $1) AS same_key FROM call_requests
           WHERE ($1::text IS NOT NULL AND created_by = $2 AND idempotency_key = $1)
              OR (customer_id = $3 AND agent_id = $4 AND state <> ALL($5::text[]))
           ORDER BY (idempotency_key IS NOT DISTINCT FROM $1 AND created_by = $2) DESC
           LIMIT 1`,
          [r.idempotencyKey, r.createdBy, r.customerId, r.agentId, CLOSED_STATES],
        );
        const found = existing.rows[0];
        if (found) {
          // The same key sent with another request: never answer it with the first one (Stripe does the same).
          const fingerprint = r.idempotencyFingerprint ?? null;
          if (found.same_key && fingerprint && found.idempotency_fingerprint && found.idempotency_fingerprint !== fingerprint) {
            throw new AppError('idempotency_key_reused', 'This Idempotency-Key was already used for a different request; send a new key for a new request.');
          }
          return { request: toCallRequest(found), created: false, sameKey: found.same_key };
        }
      }
      throw new Error('call request create: conflicting request kept changing; giving up');
    },

    async listStuckInSetup(state, before, limit) {
      const res = await query<CallRequestRow>(
        pool,
        `SELECT ${requestColumns('r')} FROM call_requests r
         WHERE r.state = $1 AND r.updated_at < $2
           AND NOT EXISTS (SELECT 1 FROM call_records c WHERE c.call_request_id = r.id AND c.ended_at IS NULL)
         ORDER BY r.updated_at
         LIMIT $3`,
        [state, before, clampLimit(limit)],
      );
      return res.rows.map(toCallRequest);
    },

    async get(id) {
      if (!isUuid(id)) return null;
      const res = await prepared<CallRequestRow>(pool, 'call_requests_get', `SELECT ${COLUMNS} FROM call_requests WHERE id = $1`, [id]);
      return res.rows[0] ? toCallRequest(res.rows[0]) : null;
    },

    async update(id, expectedVersion, next, audit?: NewAuditEntry, effects?: MoveEffects) {
      if (!isUuid(id)) return null;
      const values = updateValues(id, expectedVersion, next);
      if (hasEffects(effects)) {
        // The move, the jobs it implies, its notifications and its audit entry: one transaction.
        return transaction(pool, async (c) => {
          const res = await c.query<CallRequestRow>(UPDATE, values);
          if (!res.rows[0]) return null;
          await writeEffects(c, id, effects);
          if (audit) await appendAudit(c, [audit]);
          return toCallRequest(res.rows[0]);
        });
      }
      // With an audit entry: appended in the same statement, once per row the update wrote (so
      // not at all when the compare-and-set lost).
      const res = audit
        ? await prepared<CallRequestRow>(
            pool,
            'call_requests_update_audited',
            `WITH moved AS (${UPDATE}) SELECT moved.*, (${auditAppendCall(15)}).seq AS audit_seq FROM moved`,
            [...values, ...auditAppendArgs(audit).args],
          )
        : await prepared<CallRequestRow>(pool, 'call_requests_update', UPDATE, values);
      return res.rows[0] ? toCallRequest(res.rows[0]) : null;
    },

    async updateSpendingToken(id, expectedVersion, next, audit, token) {
      if (!isUuid(id) || audit.length === 0) throw new Error('updateSpendingToken: a request id and at least one audit entry are required');
      const res = await prepared<CallRequestRow & { spent: boolean }>(
        pool,
        `call_requests_update_spending_token_${audit.length}`,
        updateSpendingToken(audit.length),
        [...updateValues(id, expectedVersion, next), token.jti, token.dialogId, token.now, ...audit.flatMap((e) => auditAppendArgs(e).args)],
      );
      const row = res.rows[0]!;
      return { spent: row.spent, after: row.id ? toCallRequest(row) : null };
    },

    async updateIssuingChallenge(id, expectedVersion, next, audit, challenge, effects?: MoveEffects) {
      if (!isUuid(id) || challenge.callRequestId !== id) throw new Error('updateIssuingChallenge: the challenge must be for the request moved');
      const args = [
        ...updateValues(id, expectedVersion, next),
        ...auditAppendArgs(audit).args,
        challenge.id,
        challenge.deviceId,
        challenge.purpose,
        challenge.value,
        challenge.expiresAt,
      ];
      if (hasEffects(effects)) {
        return transaction(pool, async (c) => {
          const res = await c.query<CallRequestRow>(UPDATE_ISSUING_CHALLENGE, args);
          if (!res.rows[0]) return null;
          await writeEffects(c, id, effects);
          return toCallRequest(res.rows[0]);
        });
      }
      const res = await prepared<CallRequestRow>(pool, 'call_requests_update_issuing_challenge', UPDATE_ISSUING_CHALLENGE, args);
      return res.rows[0] ? toCallRequest(res.rows[0]) : null;
    },

    async applyEffects(id, expectedVersion, effects, audit) {
      if (!isUuid(id)) return false;
      return transaction(pool, async (c) => {
        // The row lock keeps every move of the request out until this commits.
        const locked = await c.query(`SELECT 1 FROM call_requests WHERE id = $1 AND version = $2 FOR UPDATE`, [id, expectedVersion]);
        if (locked.rowCount === 0) return false;
        await writeEffects(c, id, effects);
        await appendAudit(c, [audit]);
        return true;
      });
    },

    async jobGaps(rules, limit) {
      if (rules.length === 0) return [];
      const res = await query<CallRequestRow & { gap_job: RequestJobKind; gap_at: Date }>(
        pool,
        `SELECT ${requestColumns('r')}, g.job AS gap_job, g.due AS gap_at
         FROM call_requests r
         CROSS JOIN LATERAL (
           SELECT u.job, CASE u.col WHEN 'answer_deadline' THEN r.answer_deadline
                                    WHEN 'snooze_until' THEN r.snooze_until
                                    WHEN 'scheduled_for' THEN r.scheduled_for
                                    WHEN 'hold_until' THEN r.hold_until END AS due
           FROM unnest($1::text[], $2::text[], $3::text[]) AS u(state, job, col)
           WHERE u.state = r.state) g
         WHERE r.state = ANY($1::text[]) AND g.due IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM "${JOBS_TABLE}" j
                           WHERE j.name = g.job AND j.data->>'requestId' = r.id::text AND ${requestJobPresentSql('j', 'g.due')})
         ORDER BY r.updated_at
         LIMIT $4`,
        [rules.map((x) => x.state), rules.map((x) => x.job), rules.map((x) => x.dueColumn), clampLimit(limit)],
      );
      return res.rows.map((row): JobGap => ({ request: toCallRequest(row), job: row.gap_job, at: row.gap_at }));
    },

    async list(filter) {
      const where: string[] = [];
      const values: unknown[] = [];
      const add = (clause: string, value: unknown) => {
        values.push(value);
        where.push(clause.replace('?', `$${values.length}`));
      };
      if (filter.agentId !== undefined) {
        if (!isUuid(filter.agentId)) return [];
        add('agent_id = ?', filter.agentId);
      }
      if (filter.customerId !== undefined) {
        if (!isUuid(filter.customerId)) return [];
        add('customer_id = ?', filter.customerId);
      }
      if (filter.groupId !== undefined) add('group_id = ?', filter.groupId);
      if (filter.states !== undefined) add('state = ANY(?::text[])', filter.states);
      values.push(clampLimit(filter.limit));
      // Queue order: the oldest ask first, so a callback keeps its place. A history (the
      // console's list) wants the latest asks, or a long past hides today's.
      const order = filter.order === 'newest' ? 'requested_at DESC, id DESC' : 'requested_at, id';
      const res = await query<CallRequestRow>(
        pool,
        `SELECT * FROM call_requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY ${order} LIMIT $${values.length}`,
        values,
      );
      return res.rows.map(toCallRequest);
    },

    async countScheduledBetween(groupId, from, to) {
      const res = await query<{ n: string }>(
        pool,
        `SELECT count(*) AS n FROM call_requests
         WHERE group_id IS NOT DISTINCT FROM $1 AND state = ANY($2::text[])
           AND scheduled_for >= $3 AND scheduled_for < $4`,
        [groupId, PENDING_CALLBACK_STATES, from, to],
      );
      return Number(res.rows[0]!.n);
    },
  };
}
