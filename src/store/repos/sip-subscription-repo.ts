/**
 * Desk phones' event subscriptions (migration 011), shared by every instance: whoever sees an
 * agent's change moves the matching rows to the new state and sends their NOTIFYs; rows reported
 * already are left alone, so the same change seen twice is sent once.
 */
import type pg from 'pg';
import type { Availability } from '../../domain/model.js';
import type { SipSubscription, SipSubscriptionRepo } from '../store.js';
import { query } from './sql.js';

interface SubscriptionRow {
  dialog_id: string;
  event: SipSubscription['event'];
  subscriber: string;
  target: string;
  entity: string;
  version: string; // bigint comes back as text
  reported: string | null;
  expires_at: Date;
}

function toSubscription(r: SubscriptionRow): SipSubscription {
  return {
    dialogId: r.dialog_id,
    event: r.event,
    subscriber: r.subscriber,
    target: r.target,
    entity: r.entity,
    version: Number(r.version),
    reported: r.reported,
    expiresAt: r.expires_at,
  };
}

const COLUMNS = 'dialog_id, event, subscriber, target, entity, version, reported, expires_at';

export function sipSubscriptionRepo(pool: pg.Pool): SipSubscriptionRepo {
  return {
    async create(s, now) {
      await query(
        pool,
        `INSERT INTO sip_subscriptions (dialog_id, event, subscriber, target, entity, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (dialog_id) DO UPDATE SET
           event = EXCLUDED.event, subscriber = EXCLUDED.subscriber, target = EXCLUDED.target, entity = EXCLUDED.entity,
           version = 0, reported = NULL, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at`,
        [s.dialogId, s.event, s.subscriber, s.target, s.entity, s.expiresAt, now],
      );
    },
    async get(dialogId, now) {
      const res = await query<SubscriptionRow>(pool, `SELECT ${COLUMNS} FROM sip_subscriptions WHERE dialog_id = $1 AND expires_at > $2`, [dialogId, now]);
      return res.rows[0] ? toSubscription(res.rows[0]) : null;
    },
    async list(filter, now) {
      const res = await query<SubscriptionRow>(
        pool,
        `SELECT ${COLUMNS} FROM sip_subscriptions
         WHERE expires_at > $1 AND ($2::text IS NULL OR subscriber = $2) AND ($3::text IS NULL OR target = $3)
         ORDER BY created_at, dialog_id`,
        [now, filter.subscriber ?? null, filter.target ?? null],
      );
      return res.rows.map(toSubscription);
    },
    async refresh(dialogId, expiresAt, now) {
      const res = await query<SubscriptionRow>(
        pool,
        `UPDATE sip_subscriptions SET expires_at = $2, updated_at = $3 WHERE dialog_id = $1 AND expires_at > $3 RETURNING ${COLUMNS}`,
        [dialogId, expiresAt, now],
      );
      return res.rows[0] ? toSubscription(res.rows[0]) : null;
    },
    async remove(dialogId) {
      const res = await query<SubscriptionRow>(pool, `DELETE FROM sip_subscriptions WHERE dialog_id = $1 RETURNING ${COLUMNS}`, [dialogId]);
      return res.rows[0] ? toSubscription(res.rows[0]) : null;
    },
    async nextNotify(dialogId, reported, now) {
      const res = await query<SubscriptionRow>(
        pool,
        `UPDATE sip_subscriptions SET version = version + 1, reported = $2, updated_at = $3
         WHERE dialog_id = $1 AND expires_at > $3 RETURNING ${COLUMNS}`,
        [dialogId, reported, now],
      );
      return res.rows[0] ? toSubscription(res.rows[0]) : null;
    },
    async report(target, states, now) {
      const events = Object.keys(states);
      if (events.length === 0) return [];
      // The state wanted for each row's package; packages not in `states` are not touched.
      const wanted = `(CASE event WHEN 'dialog' THEN $2::text WHEN 'presence' THEN $3::text END)`;
      const res = await query<SubscriptionRow>(
        pool,
        `UPDATE sip_subscriptions SET version = version + 1, reported = ${wanted}, updated_at = $5
         WHERE target = $1 AND event = ANY($4::text[]) AND expires_at > $5 AND reported IS DISTINCT FROM ${wanted}
         RETURNING ${COLUMNS}`,
        [target, states.dialog ?? null, states.presence ?? null, events, now],
      );
      return res.rows.map(toSubscription);
    },
    async watchedLines(now) {
      const res = await query<{ target: string; event: 'dialog' | 'presence'; reported: string | null; availability: Availability | null }>(
        pool,
        `SELECT DISTINCT s.target, s.event, s.reported, a.availability
         FROM sip_subscriptions s LEFT JOIN agents a ON a.extension = s.target
         WHERE s.event IN ('dialog', 'presence') AND s.expires_at > $1`,
        [now],
      );
      return res.rows;
    },
    async takeExpired(now, limit) {
      const res = await query<SubscriptionRow>(
        pool,
        `DELETE FROM sip_subscriptions WHERE dialog_id IN (
           SELECT dialog_id FROM sip_subscriptions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
         ) RETURNING ${COLUMNS}`,
        [now, limit],
      );
      return res.rows.map(toSubscription);
    },
  };
}
