/**
 * The audit log (SPEC: "Every decision is logged with reasons"): an append-only hash chain.
 * Appends take a transaction advisory lock, read the head and insert the next entry, so writers
 * in any number of instances form one unbroken chain.
 */
import type pg from 'pg';
import type { AuditEntry } from '../../domain/model.js';
import { createChainVerifier, GENESIS_HASH, auditEntryHash, storableData, storableText } from '../audit-chain.js';
import type { AuditRepo, NewAuditEntry } from '../store.js';
import { clampLimit, LOCK_KEYS, query, transaction } from './sql.js';

interface AuditRow {
  seq: string; // bigint
  at: Date;
  actor: string;
  action: string;
  subject: string | null;
  decision: AuditEntry['decision'];
  reason: string;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function toEntry(r: AuditRow): AuditEntry {
  return {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    decision: r.decision,
    reason: r.reason,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

const VERIFY_BATCH = 1000;

export function auditRepo(pool: pg.Pool): AuditRepo {
  return {
    append: (e: NewAuditEntry) =>
      transaction(pool, async (c) => {
        await query(c, 'SELECT pg_advisory_xact_lock($1)', [LOCK_KEYS.audit]);
        const head = await query<{ seq: string; hash: string }>(
          c,
          'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
        );
        const unhashed: Omit<AuditEntry, 'hash'> = {
          seq: head.rows[0] ? Number(head.rows[0].seq) + 1 : 1,
          // Taken under the lock so time follows seq within one clock.
          at: new Date(),
          actor: storableText(e.actor),
          action: storableText(e.action),
          subject: e.subject === null ? null : storableText(e.subject),
          decision: e.decision,
          reason: storableText(e.reason),
          data: storableData(e.data),
          prevHash: head.rows[0]?.hash ?? GENESIS_HASH,
        };
        const entry: AuditEntry = { ...unhashed, hash: auditEntryHash(unhashed) };
        await query(
          c,
          `INSERT INTO audit_log (seq, at, actor, action, subject, decision, reason, data, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)`,
          [
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.subject,
            entry.decision,
            entry.reason,
            JSON.stringify(entry.data),
            entry.prevHash,
            entry.hash,
          ],
        );
        return entry;
      }),

    async list(filter) {
      const where: string[] = [];
      const values: unknown[] = [];
      if (filter.subject !== undefined) {
        values.push(filter.subject);
        where.push(`subject = $${values.length}`);
      }
      if (filter.afterSeq !== undefined) {
        values.push(filter.afterSeq);
        where.push(`seq > $${values.length}`);
      }
      values.push(clampLimit(filter.limit));
      const res = await query<AuditRow>(
        pool,
        `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT $${values.length}`,
        values,
      );
      return res.rows.map(toEntry);
    },

    async verify() {
      const verifier = createChainVerifier();
      let after = 0;
      for (;;) {
        const res = await query<AuditRow>(pool, 'SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [
          after,
          VERIFY_BATCH,
        ]);
        for (const row of res.rows) {
          if (!verifier.push(toEntry(row))) return verifier.report();
        }
        if (res.rows.length < VERIFY_BATCH) return verifier.report();
        after = Number(res.rows[res.rows.length - 1]!.seq);
      }
    },
  };
}
