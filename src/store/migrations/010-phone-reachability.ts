/**
 * Desk phones that cannot be reached: `registrations.unreachable_since` is set when a request to
 * the binding failed before the phone could answer (its connection is gone, its address refuses:
 * drachtio-server's own 503, or no request could be built) and cleared when the phone registers
 * again. A binding is *live* while unexpired and reachable; an agent is available only with a
 * live binding (see the agent repository's `followPhones` and `release`).
 */
export const name = 'phone-reachability';

export const sql = `
ALTER TABLE registrations ADD COLUMN unreachable_since timestamptz;
`;
