/**
 * No request is left stuck once the customer has answered:
 *  - `call_requests.hold_until`: until when an accepted or verified request is held for the
 *    customer's next step (the authentication, then the call); its `request.lapse` job moves it
 *    back to the customer, or to expired, when nothing came in time;
 *  - the outcome `no_call`: accepted (and maybe verified) but no call was set up before the
 *    answer window closed.
 */
export const name = 'request-holds';

export const sql = `
ALTER TABLE call_requests ADD COLUMN hold_until timestamptz;

ALTER TABLE call_requests DROP CONSTRAINT call_requests_outcome_check;
ALTER TABLE call_requests ADD CONSTRAINT call_requests_outcome_check CHECK (outcome IN (
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up', 'no_call',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'));
`;
