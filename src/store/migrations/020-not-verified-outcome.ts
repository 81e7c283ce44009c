/**
 * The outcome `not_verified`: the customer accepted but did not verify before the hold and the
 * answer window ran out (until now stored as `no_call`, which reads as "verified, but no call").
 * The list keeps every earlier outcome (013).
 */
export const name = 'not-verified-outcome';

export const sql = `
ALTER TABLE call_requests DROP CONSTRAINT call_requests_outcome_check;
ALTER TABLE call_requests ADD CONSTRAINT call_requests_outcome_check CHECK (outcome IN (
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up', 'no_call', 'not_verified',
  'cancelled_by_customer', 'unreachable', 'superseded',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'));
`;
