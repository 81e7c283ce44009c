/**
 * Every cancelled request says why: besides `cancelled` (by an agent), the outcomes
 * `cancelled_by_customer`, `unreachable` (nobody could be notified) and `superseded` (closed for
 * the agent's newer knock). The list keeps every earlier outcome, `no_call` (012) included.
 */
export const name = 'cancel-reasons';

export const sql = `
ALTER TABLE call_requests DROP CONSTRAINT call_requests_outcome_check;
ALTER TABLE call_requests ADD CONSTRAINT call_requests_outcome_check CHECK (outcome IN (
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up', 'no_call',
  'cancelled_by_customer', 'unreachable', 'superseded',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'));
`;
