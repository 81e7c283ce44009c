/** What was sent to whom for a call request (knock, replacement, reminders). */
import type pg from 'pg';
import type { NotificationRecord } from '../../domain/model.js';
import type { NotificationRepo } from '../store.js';
import { isUuid, prepared, query } from './sql.js';

interface NotificationRow {
  id: string;
  call_request_id: string;
  kind: NotificationRecord['kind'];
  replaces_id: string | null;
  channel: NotificationRecord['channel'];
  device_id: string | null;
  status: NotificationRecord['status'];
  error: string | null;
  created_at: Date;
}

const COLUMNS = 'id, call_request_id, kind, replaces_id, channel, device_id, status, error, created_at';

function toNotification(r: NotificationRow): NotificationRecord {
  return {
    id: r.id,
    callRequestId: r.call_request_id,
    kind: r.kind,
    replacesId: r.replaces_id,
    channel: r.channel,
    deviceId: r.device_id,
    status: r.status,
    error: r.error,
    createdAt: r.created_at,
  };
}

export function notificationRepo(pool: pg.Pool): NotificationRepo {
  return {
    async record(n) {
      const res = await prepared<NotificationRow>(
        pool,
        'notifications_record',
        `INSERT INTO notifications (id, call_request_id, kind, replaces_id, channel, device_id, status, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING ${COLUMNS}`,
        [n.id, n.callRequestId, n.kind, n.replacesId, n.channel, n.deviceId, n.status, n.error],
      );
      return toNotification(res.rows[0]!);
    },
    async listFor(callRequestId) {
      if (!isUuid(callRequestId)) return [];
      const res = await query<NotificationRow>(
        pool,
        `SELECT ${COLUMNS} FROM notifications WHERE call_request_id = $1 ORDER BY ordinal`,
        [callRequestId],
      );
      return res.rows.map(toNotification);
    },
  };
}
