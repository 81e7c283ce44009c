/**
 * The language of a device's app (from the Accept-Language of its live stream), so a knock's
 * push and SMS reach the customer in the language their app shows. NULL: not known yet (English).
 */
export const name = 'device-language';

export const sql = `
ALTER TABLE devices ADD COLUMN language text CHECK (language IN ('en', 'de'));
`;
