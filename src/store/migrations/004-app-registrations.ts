/**
 * The customer app registers for calls (RFC 3261 §10, over WebSocket per RFC 7118): its binding
 * lives on the device row (contact, where the REGISTER came from, until when), and the
 * registration tokens it presents are single use (jti kept until it expires). A new notification
 * kind asks the app to register when an agent-dialled callback is due.
 */
export const name = 'app-registrations';

export const sql = `
ALTER TABLE devices
  ADD COLUMN sip_source     text,
  ADD COLUMN sip_expires_at timestamptz;
CREATE INDEX devices_sip_expires_idx ON devices (sip_expires_at) WHERE sip_contact IS NOT NULL;

CREATE TABLE sip_registration_tokens (
  jti          text PRIMARY KEY,
  device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  expires_at   timestamptz NOT NULL,
  consumed_at  timestamptz,
  call_id      text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((consumed_at IS NULL) = (call_id IS NULL))
);
CREATE INDEX sip_registration_tokens_expires_idx ON sip_registration_tokens (expires_at);

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
  CHECK (kind IN ('knock', 'expired', 'reminder', 'callback_prompt', 'callback_agent', 'callback_incoming'));
`;
