/**
 * The registrar's location service (RFC 3261 §10): one row per desk phone binding of an
 * extension. Kept in the database so every instance routes to the same phones and a restart does
 * not forget who is registered.
 */
export const name = 'registrations';

export const sql = `
CREATE TABLE registrations (
  extension   text NOT NULL CHECK (length(extension) > 0),
  contact     text NOT NULL CHECK (length(contact) > 0),
  source      text NOT NULL,
  call_id     text NOT NULL,
  cseq        bigint NOT NULL CHECK (cseq >= 0),
  user_agent  text,
  expires_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (extension, contact)
);
CREATE INDEX registrations_expires_idx ON registrations (expires_at);
`;
