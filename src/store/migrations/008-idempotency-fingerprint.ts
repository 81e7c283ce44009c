/**
 * An Idempotency-Key is kept with a fingerprint of the request it was first sent with (SHA-256
 * of the caller and the canonical JSON body), so the same key with another request is refused
 * instead of answered with the first one. Rows from before have none and are matched by key alone.
 */
export const name = 'idempotency-fingerprint';

export const sql = `
ALTER TABLE call_requests ADD COLUMN idempotency_fingerprint text;
`;
