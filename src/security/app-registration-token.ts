/**
 * The token the customer app presents in its REGISTER (`Authorization: Bearer`, RFC 8898 §3):
 * short-lived, single use, ES256 with the same key ring as call tokens, but typed
 * "sipreg+jwt" (RFC 8725 §3.11) with `purpose: "sip-register"`, so a call token is refused here
 * and a registration token is refused at INVITE (its typ is not "preauth+jwt"). Bound to the
 * device key by cnf.jkt (RFC 7800 §3.1); the REGISTER carries the device's proof of possession
 * (device-proof.ts) over jti, Call-ID, From tag and the Contact URI, in its own context.
 *
 * This module adds the claims and their checks to the shared JWS mechanics (es256-jws.ts);
 * spending the jti is the flow's job.
 */
import { AppError } from '../domain/errors.js';
import { es256Jws } from './es256-jws.js';
import { randomSecret } from './secrets.js';
import type { KeyRing } from './signing-keys.js';

export const APP_REGISTRATION_TOKEN_TYPE = 'sipreg+jwt';
export const APP_REGISTRATION_PURPOSE = 'sip-register';
/** A registration token is spent within seconds of being fetched. */
export const MAX_APP_REGISTRATION_TOKEN_SECONDS = 120;
const CLOCK_SKEW_SECONDS = 5;

export interface AppRegistrationClaims {
  iss: string;
  aud: string;
  /** The device id; also the user part of the AOR it may register. */
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  purpose: typeof APP_REGISTRATION_PURPOSE;
  cnf: { jkt: string };
}

const JWS = es256Jws({
  typ: APP_REGISTRATION_TOKEN_TYPE,
  label: 'Registration token',
  maxLength: 4096,
  wrongTypeHint: '(a call token cannot register)',
});
const invalid = JWS.invalid;

export function signAppRegistrationToken(input: {
  keyRing: KeyRing;
  issuer: string;
  audience: string;
  deviceId: string;
  deviceKeyThumbprint: string;
  lifetimeSeconds: number;
  now: Date;
}): { token: string; claims: AppRegistrationClaims } {
  const life = Math.min(Math.max(1, Math.floor(input.lifetimeSeconds)), MAX_APP_REGISTRATION_TOKEN_SECONDS);
  const iat = Math.floor(input.now.getTime() / 1000);
  const claims: AppRegistrationClaims = {
    iss: input.issuer,
    aud: input.audience,
    sub: input.deviceId,
    iat,
    nbf: iat,
    exp: iat + life,
    jti: randomSecret(16),
    purpose: APP_REGISTRATION_PURPOSE,
    cnf: { jkt: input.deviceKeyThumbprint },
  };
  return { token: JWS.sign(input.keyRing, claims), claims };
}

/**
 * Checks header (ES256 and our type only, RFC 8725 §3.1), signature, issuer, audience, purpose,
 * lifetime and time. Throws AppError token_invalid / token_expired; messages never repeat the token.
 */
export async function checkAppRegistrationToken(
  token: string,
  opts: { keyRing: KeyRing; issuer: string; audience: string; now: Date },
): Promise<AppRegistrationClaims> {
  const { payload: c } = await JWS.verifySignatureOrReload(token, opts.keyRing, opts.now);
  const cnf = c.cnf as Record<string, unknown> | undefined;
  for (const name of ['iss', 'aud', 'sub', 'jti'] as const) if (typeof c[name] !== 'string' || !c[name]) invalid(`claim "${name}" is missing`);
  for (const name of ['iat', 'nbf', 'exp'] as const) if (typeof c[name] !== 'number') invalid(`claim "${name}" is missing`);
  if (typeof cnf?.jkt !== 'string' || !cnf.jkt) invalid('claim "cnf.jkt" is missing');
  const claims = c as unknown as AppRegistrationClaims;
  if (claims.purpose !== APP_REGISTRATION_PURPOSE) invalid('it is not a registration token');
  if (claims.iss !== opts.issuer) invalid('issued by someone else');
  if (claims.aud !== opts.audience) invalid('meant for another audience');
  if (claims.exp <= claims.iat || claims.exp - claims.iat > MAX_APP_REGISTRATION_TOKEN_SECONDS) invalid('lifetime is out of bounds');
  const nowS = opts.now.getTime() / 1000;
  if (nowS >= claims.exp) throw new AppError('token_expired', `Registration token expired at ${new Date(claims.exp * 1000).toISOString()}.`);
  if (nowS < claims.nbf - CLOCK_SKEW_SECONDS) invalid('not valid yet');
  return claims;
}
