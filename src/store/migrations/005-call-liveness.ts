/**
 * Calls are checked, not assumed (README "When a component dies"): each open call record names
 * the process that owns it and the FreeSWITCH channels and drachtio-server dialogs it holds, so a
 * survivor or a restarted process can hang them up; each process announces itself with a
 * heartbeat; a busy agent names the process that made them busy, so busy never outlives it.
 */
export const name = 'call-liveness';

export const sql = `
CREATE TABLE service_instances (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  -- Where FreeSWITCH connects back to this process for its channels (the X-esl-outbound value
  -- on every channel it made): a survivor hangs up a dead process's channels by it.
  media_address text
);
CREATE INDEX service_instances_name_idx ON service_instances (name);

ALTER TABLE call_records
  ADD COLUMN owner           text,
  ADD COLUMN media_channels  text[] NOT NULL DEFAULT '{}',
  ADD COLUMN sip_dialogs     text[] NOT NULL DEFAULT '{}';
CREATE INDEX call_records_open_idx ON call_records (owner) WHERE ended_at IS NULL;
CREATE INDEX call_records_open_dialogs_idx ON call_records USING gin (sip_dialogs) WHERE ended_at IS NULL;
CREATE INDEX call_records_session_idx ON call_records (session_id) WHERE session_id IS NOT NULL;

-- Requests whose call setup may be left behind by a process that died (call-liveness).
CREATE INDEX call_requests_in_setup_idx ON call_requests (state, updated_at) WHERE state IN ('agent_dialled', 'connecting');

-- A call can now end because a component died under it (media_lost, signalling_lost,
-- service_restarted, instance_lost); the request keeps that outcome.
ALTER TABLE call_requests DROP CONSTRAINT call_requests_outcome_check;
ALTER TABLE call_requests ADD CONSTRAINT call_requests_outcome_check CHECK (outcome IN (
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'));

ALTER TABLE agents
  ADD COLUMN busy_owner  text,
  ADD COLUMN busy_since  timestamptz;
`;
