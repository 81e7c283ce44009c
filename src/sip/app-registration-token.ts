/**
 * The token the customer app presents in its REGISTER (`Authorization: Bearer`, RFC 8898 §3):
 * short-lived, single use, ES256 with the same key ring as call tokens, but typed
 * "sipreg+jwt" (RFC 8725 §3.11) with `purpose: "sip-register"`, so a call token is refused here
 * and a registration token is refused at INVITE (its typ is not "preauth+jwt"). Bound to the
 * device key by cnf.jkt (RFC 7800 §3.1); the REGISTER carries the device's proof of possession
 * (device-proof.ts) over jti, Call-ID, From tag and the Contact URI, in its own context.
 *
 * This module signs and checks signature and claims; spending the jti is the flow's job.
 */
import { sign as signData, verify as verifySignature } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import { randomSecret } from '../security/secrets.js';
import type { KeyRing } from '../security/signing-keys.js';

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

function b64uJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

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
  const { kid, privateKey } = input.keyRing.current();
  const signingInput = `${b64uJson({ alg: 'ES256', typ: APP_REGISTRATION_TOKEN_TYPE, kid })}.${b64uJson(claims)}`;
  const signature = signData('sha256', Buffer.from(signingInput, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return { token: `${signingInput}.${signature.toString('base64url')}`, claims };
}

function invalid(message: string): never {
  throw new AppError('token_invalid', `Registration token refused: ${message}.`);
}

function parse(seg: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    invalid(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Checks header (ES256 and our type only, RFC 8725 §3.1), signature, issuer, audience, purpose,
 * lifetime and time. Throws AppError token_invalid / token_expired; messages never repeat the token.
 */
export async function checkAppRegistrationToken(
  token: string,
  opts: { keyRing: KeyRing; issuer: string; audience: string; now: Date },
): Promise<AppRegistrationClaims> {
  if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/.test(token)) {
    invalid('not a compact ES256 JWS');
  }
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = parse(h, 'header');
  if (header.alg !== 'ES256') invalid('header algorithm is not ES256');
  if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== APP_REGISTRATION_TOKEN_TYPE) {
    invalid(`header type is not ${APP_REGISTRATION_TOKEN_TYPE} (a call token cannot register)`);
  }
  if ('crit' in header) invalid('header lists critical extensions');
  if (typeof header.kid !== 'string' || !header.kid) invalid('header has no usable kid');
  const key = await opts.keyRing.verificationKeyOrReload(header.kid, opts.now);
  if (!key) invalid('signed with an unknown or retired key');
  const ok = verifySignature('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) invalid('signature does not verify');
  const c = parse(p, 'payload');
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
