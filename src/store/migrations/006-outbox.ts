/**
 * The notification outbox: a move that must tell the customer (a knock, an expiry, a reminder, a
 * callback prompt) writes a row here in its own transaction; the notifier sends it only after
 * that commit, and a row left behind by a crash or an outage is sent later by the drainer.
 */
export const name = 'outbox';

export const sql = `
CREATE TABLE notification_outbox (
  id               uuid PRIMARY KEY,
  call_request_id  uuid NOT NULL REFERENCES call_requests (id) ON DELETE CASCADE,
  kind             text NOT NULL CHECK (kind IN ('knock', 'expired', 'reminder', 'callback_prompt', 'callback_incoming')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- When the drainer may take the row: shortly after the commit (the writer sends it itself
  -- first), and again a while after each claim (the claimer died or failed).
  next_attempt_at  timestamptz NOT NULL,
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at);
`;
