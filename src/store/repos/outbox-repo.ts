/**
 * The notification outbox (migration 005): rows written by a move's transaction, sent by the
 * notifier after the commit. A claim pushes `next_attempt_at` forward, so an entry whose sender
 * died is taken again later by the drainer; a sent entry is deleted.
 */
import type pg from 'pg';
import type { NotificationKind } from '../../domain/model.js';
import type { MoveEffects, OutboxEntry, OutboxRepo } from '../store.js';
import { isUuid, query, type Db } from './sql.js';

/** How long the writer has to send an entry itself before the drainer may. */
export const OUTBOX_GRACE_MS = 10_000;
/** How long a claimed entry waits before it is tried again (its sender died or failed). */
const RECLAIM_AFTER_MS = 30_000;

interface OutboxRow {
  id: string;
  call_request_id: string;
  kind: NotificationKind;
  attempts: number;
}

const toEntry = (r: OutboxRow): OutboxEntry => ({ id: r.id, callRequestId: r.call_request_id, kind: r.kind, attempts: r.attempts });

/** Inserts a move's outbox rows on the move's transaction. */
export async function insertOutbox(db: Db, requestId: string, notify: NonNullable<MoveEffects['notify']>, now: Date): Promise<void> {
  if (notify.length === 0) return;
  await db.query(
    `INSERT INTO notification_outbox (id, call_request_id, kind, next_attempt_at)
     SELECT u.id, $1, u.kind, $4 FROM unnest($2::uuid[], $3::text[]) AS u(id, kind)`,
    [requestId, notify.map((n) => n.id), notify.map((n) => n.kind), new Date(now.getTime() + OUTBOX_GRACE_MS)],
  );
}

export function outboxRepo(pool: pg.Pool): OutboxRepo {
  const claimSql = (where: string) => `UPDATE notification_outbox o SET attempts = o.attempts + 1, next_attempt_at = $1::timestamptz + interval '${RECLAIM_AFTER_MS} milliseconds'
     WHERE o.id IN (${where})
     RETURNING o.id, o.call_request_id, o.kind, o.attempts`;
  return {
    async claim(ids, now) {
      const valid = ids.filter(isUuid);
      if (valid.length === 0) return [];
      const res = await query<OutboxRow>(pool, claimSql(`SELECT id FROM notification_outbox WHERE id = ANY($2::uuid[]) AND attempts = 0 FOR UPDATE SKIP LOCKED`), [now, valid]);
      return res.rows.map(toEntry);
    },
    async claimDue(now, limit) {
      const res = await query<OutboxRow>(
        pool,
        claimSql(`SELECT id FROM notification_outbox WHERE next_attempt_at <= $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`),
        [now, limit],
      );
      return res.rows.map(toEntry);
    },
    async done(id) {
      await query(pool, `DELETE FROM notification_outbox WHERE id = $1`, [id]);
    },
  };
}
