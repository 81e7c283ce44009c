/** Call detail records: every call leg the service set up, with how it was verified. */
import type pg from 'pg';
import type { CallRecord, SipDialogState } from '../../domain/model.js';
import type { CallRecordRepo } from '../store.js';
import { clampLimit, isUuid, query } from './sql.js';

interface CallRecordRow {
  id: string;
  call_request_id: string | null;
  session_id: string | null;
  customer_id: string | null;
  agent_id: string | null;
  direction: CallRecord['direction'];
  started_at: Date;
  answered_at: Date | null;
  ended_at: Date | null;
  outcome: string | null;
  verification: string | null;
  owner: string | null;
  media_channels: string[];
  sip_dialogs: string[];
  sip_invites: string[];
  sip_dialog_states: SipDialogState[];
}

function toCallRecord(r: CallRecordRow): CallRecord {
  return {
    id: r.id,
    callRequestId: r.call_request_id,
    sessionId: r.session_id,
    customerId: r.customer_id,
    agentId: r.agent_id,
    direction: r.direction,
    startedAt: r.started_at,
    answeredAt: r.answered_at,
    endedAt: r.ended_at,
    outcome: r.outcome,
    verification: r.verification,
    owner: r.owner,
    mediaChannels: r.media_channels,
    sipDialogs: r.sip_dialogs,
    sipInvites: r.sip_invites,
    sipDialogStates: r.sip_dialog_states ?? [],
  };
}

/** The only columns update() may touch, by record field (the owner is the process's own). */
const PATCHABLE: Record<keyof Omit<CallRecord, 'id' | 'owner'>, string> = {
  callRequestId: 'call_request_id',
  sessionId: 'session_id',
  customerId: 'customer_id',
  agentId: 'agent_id',
  direction: 'direction',
  startedAt: 'started_at',
  answeredAt: 'answered_at',
  endedAt: 'ended_at',
  outcome: 'outcome',
  verification: 'verification',
  mediaChannels: 'media_channels',
  sipDialogs: 'sip_dialogs',
  sipInvites: 'sip_invites',
  sipDialogStates: 'sip_dialog_states',
};

/** jsonb columns take their value as JSON text (node-pg would send an array as a PostgreSQL array). */
const JSON_COLUMNS = new Set(['sip_dialog_states']);

/** `owner`: this process's id, stamped on the records it creates (the calls it holds). */
export function callRecordRepo(pool: pg.Pool, owner: string | null = null): CallRecordRepo {
  return {
    async create(r) {
      const res = await query<CallRecordRow>(
        pool,
        `INSERT INTO call_records (call_request_id, session_id, customer_id, agent_id, direction, started_at,
                                   answered_at, ended_at, outcome, verification, owner, media_channels, sip_dialogs, sip_invites,
                                   sip_dialog_states)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
        [
          r.callRequestId,
          r.sessionId,
          r.customerId,
          r.agentId,
          r.direction,
          r.startedAt,
          r.answeredAt,
          r.endedAt,
          r.outcome,
          r.verification,
          owner,
          r.mediaChannels ?? [],
          r.sipDialogs ?? [],
          r.sipInvites ?? [],
          JSON.stringify(r.sipDialogStates ?? []),
        ],
      );
      return toCallRecord(res.rows[0]!);
    },

    async update(id, patch) {
      if (!isUuid(id)) return null;
      const sets: string[] = [];
      const values: unknown[] = [id];
      for (const [field, column] of Object.entries(PATCHABLE)) {
        const value = (patch as Record<string, unknown>)[field];
        if (value === undefined) continue;
        values.push(JSON_COLUMNS.has(column) ? JSON.stringify(value) : value);
        sets.push(`${column} = $${values.length}`);
      }
      if (sets.length === 0) return null;
      const res = await query<CallRecordRow>(pool, `UPDATE call_records SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values);
      return res.rows[0] ? toCallRecord(res.rows[0]) : null;
    },

    async addLegs(id, legs) {
      if (!isUuid(id)) return;
      // Appended in one statement: rings of one call may be recorded concurrently.
      await query(
        pool,
        `UPDATE call_records SET media_channels = media_channels || $2::text[], sip_dialogs = sip_dialogs || $3::text[],
                                 sip_invites = sip_invites || $4::text[], sip_dialog_states = sip_dialog_states || $5::jsonb
          WHERE id = $1 AND ended_at IS NULL`,
        [id, legs.mediaChannels ?? [], legs.sipDialogs ?? [], legs.sipInvites ?? [], JSON.stringify(legs.sipDialogStates ?? [])],
      );
    },

    async close(id, endedAt, outcome) {
      if (!isUuid(id)) return false;
      // Only an open record closes: the live call and a reconciler never both close one call.
      const res = await query(pool, `UPDATE call_records SET ended_at = $2, outcome = $3 WHERE id = $1 AND ended_at IS NULL`, [id, endedAt, outcome]);
      return res.rowCount === 1;
    },

    async listOpen(owners) {
      const res = await query<CallRecordRow>(
        pool,
        `SELECT * FROM call_records WHERE ended_at IS NULL AND owner = ANY($1::text[]) ORDER BY started_at, id`,
        [owners],
      );
      return res.rows.map(toCallRecord);
    },

    async findOpenByDialog(dialogId) {
      const res = await query<CallRecordRow>(pool, `SELECT * FROM call_records WHERE ended_at IS NULL AND sip_dialogs @> ARRAY[$1::text] LIMIT 1`, [dialogId]);
      return res.rows[0] ? toCallRecord(res.rows[0]) : null;
    },

    async list(filter) {
      const where: string[] = [];
      const values: unknown[] = [];
      for (const [value, column] of [
        [filter.agentId, 'agent_id'],
        [filter.customerId, 'customer_id'],
        [filter.callRequestId, 'call_request_id'],
      ] as const) {
        if (value === undefined) continue;
        if (!isUuid(value)) return [];
        values.push(value);
        where.push(`${column} = $${values.length}`);
      }
      values.push(clampLimit(filter.limit));
      // History: newest first.
      const res = await query<CallRecordRow>(
        pool,
        `SELECT * FROM call_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY started_at DESC, id LIMIT $${values.length}`,
        values,
      );
      return res.rows.map(toCallRecord);
    },
  };
}
