/**
 * Attempt limits shared by every instance, counted before the slow hash:
 *  - `attempt_limits`: rate-limiter-flexible's RateLimiterPostgres table (agent sign-in per
 *    username, enrollment codes per source address); one atomic upsert per attempt;
 *  - PIN checks in flight on the device row (`pin_checks` until `pin_checks_until`), so parallel
 *    answers never compare more PINs than the attempts left, and a right PIN is never refused
 *    for attempts that were still being checked;
 *  - challenges for a PIN change (`change_pin`): the device signs one, like an accept.
 */
export const name = 'attempt-limits';

export const sql = `
CREATE TABLE attempt_limits (
  key     varchar(255) PRIMARY KEY,
  points  integer NOT NULL DEFAULT 0,
  expire  bigint
);
CREATE INDEX attempt_limits_expire_idx ON attempt_limits (expire);

ALTER TABLE devices
  ADD COLUMN pin_checks        integer NOT NULL DEFAULT 0 CHECK (pin_checks >= 0),
  ADD COLUMN pin_checks_until  timestamptz;

ALTER TABLE challenges DROP CONSTRAINT challenges_purpose_check;
ALTER TABLE challenges ADD CONSTRAINT challenges_purpose_check
  CHECK (purpose IN ('accept', 'enroll_webauthn', 'change_pin'));
`;
