/**
 * No request is left stuck once the customer has answered:
 *  - `call_requests.hold_until`: until when an accepted or verified request is held for the
 *    customer's next step (the authentication, then the call); its `request.lapse` job moves it
 *    back to the customer, or to expired, when nothing came in time;
 *  - the outcome `no_call`: accepted (and maybe verified) but no call was set up before the
 *    answer window closed;
 *  - `app_streams`: customer apps holding their live event stream open, by service process, with
 *    a heartbeat (`seen_at`); a notification delivered over such a stream is recorded with the
 *    channel `app`.
 */
export const name = 'request-holds';

export const sql = `
ALTER TABLE call_requests ADD COLUMN hold_until timestamptz;

ALTER TABLE call_requests DROP CONSTRAINT call_requests_outcome_check;
ALTER TABLE call_requests ADD CONSTRAINT call_requests_outcome_check CHECK (outcome IN (
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up', 'no_call',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'));

ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('webpush', 'sms', 'app'));

CREATE TABLE app_streams (
  id           uuid PRIMARY KEY,
  device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  -- The service process (service_instances.id) holding the stream.
  owner        text NOT NULL,
  opened_at    timestamptz NOT NULL DEFAULT now(),
  seen_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_streams_customer_idx ON app_streams (customer_id, seen_at);
CREATE INDEX app_streams_owner_idx ON app_streams (owner);
`;
