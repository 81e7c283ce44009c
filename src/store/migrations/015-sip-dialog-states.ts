/**
 * A call's record keeps, for each of its SIP dialogs, what a BYE needs (Call-ID, tags, URIs,
 * remote target, route set): a restarted drachtio-server has forgotten the dialogs, so a BYE by
 * drachtio-server's dialog id is refused, and the legs that survived the outage are hung up with
 * a BYE written from this instead (README "When a component dies").
 */
export const name = 'sip-dialog-states';

export const sql = `
ALTER TABLE call_records ADD COLUMN sip_dialog_states jsonb NOT NULL DEFAULT '[]'::jsonb;
`;
