/**
 * What of a recipient may appear in logs. Phone numbers are personal data; a push endpoint's
 * path is the subscription's capability (anyone holding it can queue messages). Logs keep just
 * enough to tell recipients apart.
 */

/** Keeps the first three characters and the last two digits: "+44*******89". */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return '***';
  return `${e164.slice(0, 3)}${'*'.repeat(e164.length - 5)}${e164.slice(-2)}`;
}

/** Only the push service's origin, e.g. "https://fcm.googleapis.com". */
export function pushServiceOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return 'invalid';
  }
}
