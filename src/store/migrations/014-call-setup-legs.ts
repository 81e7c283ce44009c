/**
 * A call is recorded from the moment the service holds a leg of it, not from the moment it
 * connects (README "When a component dies"): the record of a call still being set up (a customer
 * queued, a phone ringing, an agent on hold for a dialled callback) names its owner, channels and
 * dialogs, and the INVITEs still ringing, so a survivor can hang up and CANCEL what a dead
 * process left. `answered_at` stays empty until the customer and an agent are bridged.
 */
export const name = 'call-setup-legs';

export const sql = `
ALTER TABLE call_records ADD COLUMN sip_invites text[] NOT NULL DEFAULT '{}';
`;
