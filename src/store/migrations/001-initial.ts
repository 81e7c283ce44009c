/**
 * The initial schema. Kept as a TypeScript string so the compiled output carries it.
 *
 * Conventions: ids the store generates are uuid (gen_random_uuid, built into PostgreSQL 13+);
 * identifiers callers choose (token jti, session id, challenge id, group slug, key id) are text.
 * Times are timestamptz. States are text with CHECK constraints listing the allowed values, so a
 * bug elsewhere cannot store a state the domain does not know.
 */
export const name = 'initial';

export const sql = `
CREATE TABLE agent_groups (
  id             text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  name           text NOT NULL,
  time_zone      text NOT NULL,
  business_hours jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(business_hours) = 'object'),
  slot_capacity  integer CHECK (slot_capacity IS NULL OR slot_capacity >= 0),
  slot_minutes   integer NOT NULL CHECK (slot_minutes > 0),
  callback_mode  text NOT NULL CHECK (callback_mode IN ('customer_calls', 'agent_calls'))
);

CREATE TABLE agents (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username        text NOT NULL UNIQUE CHECK (length(username) > 0),
  name            text NOT NULL,
  extension       text NOT NULL UNIQUE CHECK (length(extension) > 0),
  availability    text NOT NULL DEFAULT 'offline'
                  CHECK (availability IN ('available', 'away', 'busy', 'offline')),
  idle_since      timestamptz,
  role            text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
  -- Secrets: read only through AgentRepo.secrets().
  password_hash   text NOT NULL,
  sip_ha1         text NOT NULL,
  sip_ha1_sha256  text,
  sip_realm       text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- position keeps the order the agent's groups were given in (the first is the home group).
CREATE TABLE agent_group_members (
  agent_id  uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  group_id  text NOT NULL REFERENCES agent_groups (id) ON DELETE CASCADE,
  position  integer NOT NULL,
  PRIMARY KEY (agent_id, group_id)
);
CREATE INDEX agent_group_members_group_idx ON agent_group_members (group_id);

CREATE TABLE customers (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL,
  phone_e164    text CHECK (phone_e164 IS NULL OR phone_e164 ~ '^\\+[1-9][0-9]{1,14}$'),
  time_zone     text NOT NULL,
  external_ref  text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_external_ref_key ON customers (external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX customers_phone_idx ON customers (phone_e164);
CREATE INDEX customers_name_idx ON customers (lower(name));

CREATE TABLE devices (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id          uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  label                text NOT NULL,
  public_key_jwk       jsonb NOT NULL CHECK (jsonb_typeof(public_key_jwk) = 'object'),
  key_thumbprint       text NOT NULL UNIQUE,
  webauthn             jsonb,
  push_subscription    jsonb,
  sip_contact          text,
  -- Secrets: read only through DeviceRepo.secrets(). The API credential itself is never stored.
  credential_hash      text NOT NULL UNIQUE,
  pin_hash             text,
  pin_failed_attempts  integer NOT NULL DEFAULT 0 CHECK (pin_failed_attempts >= 0),
  pin_locked_until     timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  last_seen_at         timestamptz,
  revoked_at           timestamptz
);
CREATE INDEX devices_customer_active_idx ON devices (customer_id) WHERE revoked_at IS NULL;

CREATE TABLE enrollment_codes (
  code_hash    text PRIMARY KEY,
  customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE call_requests (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  reference           text NOT NULL,
  reason              text NOT NULL,
  customer_id         uuid NOT NULL REFERENCES customers (id),
  group_id            text REFERENCES agent_groups (id),
  agent_id            uuid NOT NULL REFERENCES agents (id),
  state               text NOT NULL CHECK (state IN (
                        'requested', 'notified', 'snoozed', 'accepted', 'authenticated', 'connecting',
                        'connected', 'ended', 'expired', 'scheduled', 'due', 'prompted',
                        'agent_dialled', 'cancelled')),
  answer_deadline     timestamptz NOT NULL,
  accepted_device_id  uuid REFERENCES devices (id),
  auth_method         text CHECK (auth_method IS NULL OR auth_method IN ('biometric', 'pin')),
  authenticated_at    timestamptz,
  scheduled_for       timestamptz,
  schedule_note       text,
  snooze_until        timestamptz,
  attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  outcome             text CHECK (outcome IS NULL OR outcome IN (
                        'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up')),
  requested_at        timestamptz NOT NULL,
  created_by          text NOT NULL,
  idempotency_key     text,
  version             integer NOT NULL DEFAULT 1 CHECK (version > 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  -- NULL keys are distinct, so requests without a key never collide here.
  CONSTRAINT call_requests_idempotency_key UNIQUE (created_by, idempotency_key)
);
-- At most one open request per customer and agent: a second knock returns the first.
CREATE UNIQUE INDEX call_requests_one_open ON call_requests (customer_id, agent_id)
  WHERE state NOT IN ('ended', 'cancelled');
CREATE INDEX call_requests_agent_idx ON call_requests (agent_id, state, requested_at);
CREATE INDEX call_requests_customer_idx ON call_requests (customer_id, state, requested_at);
CREATE INDEX call_requests_group_idx ON call_requests (group_id, state, requested_at);
CREATE INDEX call_requests_pending_callbacks_idx ON call_requests (group_id, scheduled_for)
  WHERE state IN ('scheduled', 'due', 'prompted', 'agent_dialled');

CREATE TABLE notifications (
  id               uuid PRIMARY KEY,
  call_request_id  uuid NOT NULL REFERENCES call_requests (id) ON DELETE CASCADE,
  kind             text NOT NULL CHECK (kind IN ('knock', 'expired', 'reminder', 'callback_prompt', 'callback_agent')),
  replaces_id      uuid REFERENCES notifications (id) ON DELETE SET NULL,
  channel          text NOT NULL CHECK (channel IN ('webpush', 'sms')),
  device_id        uuid REFERENCES devices (id) ON DELETE SET NULL,
  status           text NOT NULL CHECK (status IN ('sent', 'failed')),
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- Insertion order; created_at alone can tie within one transaction.
  ordinal          bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX notifications_request_idx ON notifications (call_request_id, ordinal);

CREATE TABLE challenges (
  id               text PRIMARY KEY,
  device_id        uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  call_request_id  uuid REFERENCES call_requests (id) ON DELETE CASCADE,
  purpose          text NOT NULL CHECK (purpose IN ('accept', 'enroll_webauthn')),
  value            text NOT NULL,
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz
);
CREATE INDEX challenges_expires_idx ON challenges (expires_at);

CREATE TABLE issued_tokens (
  jti              text PRIMARY KEY,
  call_request_id  uuid NOT NULL REFERENCES call_requests (id) ON DELETE CASCADE,
  customer_id      uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  device_id        uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  expires_at       timestamptz NOT NULL,
  consumed_at      timestamptz,
  dialog_id        text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((consumed_at IS NULL) = (dialog_id IS NULL))
);
CREATE INDEX issued_tokens_expires_idx ON issued_tokens (expires_at);

CREATE TABLE auth_sessions (
  id                text PRIMARY KEY,
  call_request_id   uuid NOT NULL REFERENCES call_requests (id) ON DELETE CASCADE,
  customer_id       uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  device_id         uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  auth_method       text NOT NULL CHECK (auth_method IN ('biometric', 'pin')),
  authenticated_at  timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  revoked_at        timestamptz
);
CREATE INDEX auth_sessions_open_idx ON auth_sessions (created_at) WHERE revoked_at IS NULL;

CREATE TABLE call_records (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  call_request_id  uuid REFERENCES call_requests (id) ON DELETE SET NULL,
  session_id       text REFERENCES auth_sessions (id) ON DELETE SET NULL,
  customer_id      uuid REFERENCES customers (id) ON DELETE SET NULL,
  agent_id         uuid REFERENCES agents (id) ON DELETE SET NULL,
  direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  started_at       timestamptz NOT NULL,
  answered_at      timestamptz,
  ended_at         timestamptz,
  outcome          text,
  verification     text
);
CREATE INDEX call_records_agent_idx ON call_records (agent_id, started_at DESC);
CREATE INDEX call_records_customer_idx ON call_records (customer_id, started_at DESC);
CREATE INDEX call_records_request_idx ON call_records (call_request_id, started_at DESC);

-- Append-only, hash-chained (see audit-chain.ts). seq is assigned by the writer holding the
-- audit advisory lock, so it has no gaps; a gap means a deleted row.
CREATE TABLE audit_log (
  seq        bigint PRIMARY KEY CHECK (seq > 0),
  at         timestamptz NOT NULL,
  actor      text NOT NULL,
  action     text NOT NULL,
  subject    text,
  decision   text NOT NULL CHECK (decision IN ('allow', 'deny', 'info')),
  reason     text NOT NULL,
  data       jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, seq);

-- Defence in depth: the service never changes or removes an audit entry, so the database
-- refuses to. Someone with rights to disable the trigger is still caught by verify().
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE api_keys (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(name) > 0),
  scopes      text[] NOT NULL DEFAULT '{}',
  key_hash    text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
-- A name identifies its key in created_by ("apikey:<name>"), so live names are unique.
CREATE UNIQUE INDEX api_keys_name_active ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE agent_logins (
  token_hash  text PRIMARY KEY,
  agent_id    uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_logins_expires_idx ON agent_logins (expires_at);

CREATE TABLE signing_keys (
  kid          text PRIMARY KEY,
  private_jwk  jsonb NOT NULL,
  public_jwk   jsonb NOT NULL,
  created_at   timestamptz NOT NULL,
  retired_at   timestamptz
);

CREATE TABLE settings (
  key         text PRIMARY KEY,
  value       text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
`;
