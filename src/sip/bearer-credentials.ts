/**
 * What the customer app presents in a SIP request it sends with a pre-authentication token
 * (an INVITE, or a REGISTER), and the answer when the token is refused: the token from
 * `Authorization: Bearer` (RFC 8898 §3), the device's proof of possession (device-proof.ts), and
 * 401 with a Bearer challenge or 403 with the refusal's code in Reason and Warning (RFC 8898 §4,
 * RFC 3326, RFC 3261 §20.43). The checks themselves are flows (admitCustomerCall,
 * admitAppRegistration); this module only reads and writes the headers.
 */
import type { AppError } from '../domain/errors.js';
import { DEVICE_PROOF_HEADER } from '../security/device-proof.js';
import { sendResponse, warning, type SipRequest, type SipResponse } from './sip-message.js';

/** The token from `Authorization: Bearer <token>`; null when there is none. */
export function bearerToken(req: SipRequest): string | null {
  if (!req.has('Authorization')) return null;
  const m = /^\s*Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(req.get('Authorization'));
  return m ? m[1]! : null;
}

/** The device's proof of possession (device-proof.ts); null when the header is absent or empty. */
export function deviceProof(req: SipRequest): string | null {
  if (!req.has(DEVICE_PROOF_HEADER)) return null;
  const value = (req.get(DEVICE_PROOF_HEADER) ?? '').trim();
  return value.length > 0 ? value : null;
}

/** Answers a refused request: 401 with a Bearer challenge when no token came, 403 otherwise. */
export function refuseInvite(res: SipResponse, e: AppError, domain: string): void {
  if (e.code === 'token_missing') {
    sendResponse(res, 401, 'Unauthorized', { 'WWW-Authenticate': `Bearer realm="${domain}"` });
    return;
  }
  sendResponse(res, 403, 'Forbidden', {
    Warning: warning(domain, `${e.code}: ${e.message}`),
    Reason: `SIP;cause=403;text="${e.code}"`,
  });
}
