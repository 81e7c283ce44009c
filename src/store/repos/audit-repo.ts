/**
 * The audit log (SPEC: "Every decision is logged with reasons"): an append-only hash chain.
 * Appends take a transaction advisory lock, read the head and insert the next entry, so writers
 * in any number of instances form one unbroken chain. That happens in one database function
 * (migration 003) so an append is one round trip and the lock is held only while it runs.
 */
import type pg from 'pg';
import type { AuditEntry } from '../../domain/model.js';
import { canonicalJson, createChainVerifier, storableData, storableText } from '../audit-chain.js';
import type { AuditRepo, NewAuditEntry } from '../store.js';
import { clampLimit, LOCK_KEYS, prepared, query } from './sql.js';

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

/**
 * An entry ready for audit_log_append: its fields as they will be stored, and the function's
 * arguments (lock key, actor, action, subject, decision, reason, data, and the canonical JSON of
 * the fields between seq/at and prevHash, without the brackets: the database function adds seq,
 * at and prevHash under the lock and hashes the same text auditEntryHash() would).
 */
export function auditAppendArgs(e: NewAuditEntry): { fields: Omit<AuditEntry, 'seq' | 'at' | 'prevHash' | 'hash'>; args: unknown[] } {
  const fields = {
    actor: storableText(e.actor),
    action: storableText(e.action),
    subject: e.subject === null ? null : storableText(e.subject),
    decision: e.decision,
    reason: storableText(e.reason),
    data: storableData(e.data),
  };
  const middle = canonicalJson([fields.actor, fields.action, fields.subject, fields.decision, fields.reason, fields.data]);
  return {
    fields,
    args: [LOCK_KEYS.audit, fields.actor, fields.action, fields.subject, fields.decision, fields.reason, JSON.stringify(fields.data), middle.slice(1, -1)],
  };
}

/** The call `audit_log_append(...)` with its 8 arguments as parameters $first … $first+7. */
export function auditAppendCall(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `audit_log_append(${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}::jsonb, ${p(7)})`;
}

export function auditRepo(pool: pg.Pool): AuditRepo {
  return {
    async append(e: NewAuditEntry) {
      const { fields, args } = auditAppendArgs(e);
      const res = await prepared<Pick<AuditRow, 'seq' | 'at' | 'prev_hash' | 'hash'>>(
        pool,
        'audit_append',
        `SELECT seq, at, prev_hash, hash FROM ${auditAppendCall(1)}`,
        args,
      );
      const row = res.rows[0]!;
      return { seq: Number(row.seq), at: row.at, ...fields, prevHash: row.prev_hash, hash: row.hash };
    },

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
