/**
 * Appends an audit entry in one statement (one round trip, the audit lock held only for it).
 *
 * The caller passes the canonical JSON of the entry's middle fields (actor … data, as
 * src/store/audit-chain.ts serialises them, without the enclosing brackets); the function takes
 * the transaction advisory lock, reads the head, and hashes
 *   [seq,"at",<middle>,"prevHash"]
 * exactly as auditEntryHash() does, so verify() agrees. Being VOLATILE plpgsql, each statement
 * inside takes a fresh snapshot, so the head is read after the lock is granted (a single plain
 * statement would read it from a snapshot taken before waiting for the lock).
 * `at` is truncated to milliseconds because that is what the chain hashes (ISO 8601, ms).
 */
export const name = 'audit-append';

export const sql = `
CREATE FUNCTION audit_log_append(
  p_lock_key bigint,
  p_actor    text,
  p_action   text,
  p_subject  text,
  p_decision text,
  p_reason   text,
  p_data     jsonb,
  p_middle   text
) RETURNS audit_log LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  head_seq  bigint;
  head_hash text;
  new_seq   bigint;
  new_prev  text;
  new_at    timestamptz;
  new_row   audit_log;
BEGIN
  PERFORM pg_advisory_xact_lock(p_lock_key);
  SELECT seq, hash INTO head_seq, head_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
  new_seq := coalesce(head_seq, 0) + 1;
  new_prev := coalesce(head_hash, repeat('0', 64));
  -- Taken under the lock so time follows seq within one clock.
  new_at := date_trunc('milliseconds', clock_timestamp());
  INSERT INTO audit_log (seq, at, actor, action, subject, decision, reason, data, prev_hash, hash)
  VALUES (
    new_seq, new_at, p_actor, p_action, p_subject, p_decision, p_reason, p_data, new_prev,
    encode(sha256(convert_to(
      '[' || new_seq::text
        || ',"' || to_char(new_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '",'
        || p_middle
        || ',"' || new_prev || '"]',
      'UTF8')), 'hex')
  )
  RETURNING * INTO new_row;
  RETURN new_row;
END
$fn$;
`;
