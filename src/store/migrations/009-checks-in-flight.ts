/**
 * Checks in flight and PIN versions:
 *  - `attempt_limits.in_flight` (live until `in_flight_until`): checks of a sign-in or an
 *    enrollment code still being made. They hold a place under the limit without counting as
 *    failures, so a refused answer can tell "full of failures" from "wait for a place";
 *    `refused` marks the window whose first refusal was audited;
 *  - `devices.pin_version`, bumped by every PIN change, and `challenges.pin_version`, the version a
 *    PIN change challenge was issued under: a change is a compare-and-set on it.
 */
export const name = 'checks-in-flight';

export const sql = `
ALTER TABLE attempt_limits
  ADD COLUMN in_flight        integer NOT NULL DEFAULT 0,
  ADD COLUMN in_flight_until  bigint,
  ADD COLUMN refused          boolean NOT NULL DEFAULT false;

ALTER TABLE devices ADD COLUMN pin_version integer NOT NULL DEFAULT 0;
ALTER TABLE challenges ADD COLUMN pin_version integer;
`;
