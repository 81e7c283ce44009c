/**
 * The audit log's hash chain, free of I/O so the store and an offline `verify` command share it.
 *
 * Each entry's hash is SHA-256 (hex) over a canonical JSON array
 *   [seq, at (ISO 8601, ms), actor, action, subject, decision, reason, data, prevHash]
 * where data is serialised with object keys sorted. The first entry's prevHash is 64 zeros.
 * Editing any field changes that entry's hash; deleting an entry leaves a gap in seq and breaks
 * the next entry's prevHash. (Removing the newest entries cannot be seen from the chain alone.)
 */
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../domain/model.js';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys in sorted order and no insignificant whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Numbers, strings, booleans as JSON writes them; undefined / functions / NaN become null.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Text exactly as PostgreSQL will store and return it: NUL is not allowed in text or jsonb and
 * lone UTF-16 surrogates become U+FFFD on the way to UTF-8. Hashing the stored form keeps
 * verify() from flagging honest entries.
 */
export function storableText(s: string): string {
  return Buffer.from(s.replace(/\u0000/g, '\uFFFD'), 'utf8').toString('utf8');
}

/** Data as it reads back from jsonb: plain JSON values (Dates as ISO strings), storable text. */
export function storableData(data: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!data) return {};
  const plain = JSON.parse(JSON.stringify(data)) as unknown;
  const clean = (v: unknown): unknown => {
    if (typeof v === 'string') return storableText(v);
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, inner] of Object.entries(v)) out[storableText(k)] = clean(inner);
      return out;
    }
    return v;
  };
  const result = clean(plain);
  return result && typeof result === 'object' && !Array.isArray(result) ? (result as Record<string, unknown>) : {};
}

/** The hash an entry must carry, computed from everything else in it. */
export function auditEntryHash(e: Omit<AuditEntry, 'hash'>): string {
  const payload = canonicalJson([
    e.seq,
    e.at.toISOString(),
    e.actor,
    e.action,
    e.subject,
    e.decision,
    e.reason,
    e.data,
    e.prevHash,
  ]);
  return createHash('sha256').update(payload, 'utf8').digest('hex');
}

export interface ChainReport {
  ok: boolean;
  entries: number;
  firstBadSeq: number | null;
  problem: string | null;
}

export interface ChainVerifier {
  /** Checks the next entry in seq order; returns false once the chain is broken. */
  push(e: AuditEntry): boolean;
  report(): ChainReport;
}

/** Walks the chain from seq 1, one entry at a time, so callers can stream a large log. */
export function createChainVerifier(): ChainVerifier {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let entries = 0;
  let firstBadSeq: number | null = null;
  let problem: string | null = null;

  const fail = (seq: number, why: string) => {
    firstBadSeq = seq;
    problem = why;
    return false;
  };

  return {
    push(e) {
      if (problem !== null) return false;
      if (e.seq !== expectedSeq) {
        return e.seq > expectedSeq
          ? fail(
              expectedSeq,
              e.seq === expectedSeq + 1
                ? `entry ${expectedSeq} is missing (the log jumps from ${expectedSeq - 1} to ${e.seq})`
                : `entries ${expectedSeq} to ${e.seq - 1} are missing (the log jumps from ${expectedSeq - 1} to ${e.seq})`,
            )
          : fail(e.seq, `entry ${e.seq} is out of order (expected ${expectedSeq})`);
      }
      if (e.prevHash !== prevHash) {
        return fail(e.seq, `entry ${e.seq} does not link to entry ${e.seq - 1} (prev_hash mismatch)`);
      }
      if (auditEntryHash(e) !== e.hash) {
        return fail(e.seq, `entry ${e.seq} was altered (its hash does not match its content)`);
      }
      entries++;
      expectedSeq++;
      prevHash = e.hash;
      return true;
    },
    report() {
      return { ok: problem === null, entries, firstBadSeq, problem };
    },
  };
}
