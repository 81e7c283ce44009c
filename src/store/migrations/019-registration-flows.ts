/**
 * RFC 5626 flows of desk phone bindings: the phone's `+sip.instance` and `reg-id` when it asked
 * for outbound. A REGISTER from the same instance and reg-id with another Contact (the phone
 * restarted or changed network) replaces that binding instead of adding one. NULL: a phone that
 * did not ask for outbound.
 */
export const name = 'registration-flows';

export const sql = `
ALTER TABLE registrations ADD COLUMN instance_id text, ADD COLUMN reg_id integer;
`;
