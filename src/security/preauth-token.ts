/**
 * The pre-authentication token (SPEC core flow 1, step 3): a short-lived, single-use JWT
 * (RFC 7519) the app presents in its INVITE after the customer authenticated on an enrolled
 * device. Signed ES256 (RFC 7518 §3.4) with the key ring; explicitly typed "preauth+jwt"
 * (RFC 8725 §3.11) so no other JWT can be passed off as one; bound to the device key by
 * cnf.jkt (RFC 7800 §3.1 with the RFC 9449 §6.1 thumbprint member) and to the call request
 * by `crq`; single use by `jti` (RFC 7519 §4.1.7) consumed atomically in the store.
 *
 * Verification follows RFC 8725: one allowed algorithm, checked before anything else is
 * trusted (§3.1, §3.2); issuer and audience checked (§3.8, §3.9); size bounded.
 */
import { createHash } from 'node:crypto';
import type { AuthMethod, TokenUse } from '../domain/call-request.js';
import { AppError } from '../domain/errors.js';
import type { ConsumeResult, TokenRepo } from '../store/store.js';
import { es256Jws, type SignatureCheckedJws } from './es256-jws.js';
import { randomSecret } from './secrets.js';
import type { KeyRing } from './signing-keys.js';

/** Hard ceiling on a token's lifetime, whatever the configuration says. */
export const MAX_PREAUTH_LIFETIME_SECONDS = 120;
export const PREAUTH_TOKEN_TYPE = 'preauth+jwt';
/** Tokens are ~700 characters; anything near this is not ours. */
export const MAX_PREAUTH_TOKEN_LENGTH = 4096;
const DEFAULT_CLOCK_SKEW_SECONDS = 5;

/**
 * RFC 8176 §2 values: the device key is a hardware-bound key ("hwk"); biometric unlock is a user
 * presence/verification gesture ("user"; which biometric is not known to us), PIN is "pin";
 * together with possession of the device that is multi-factor ("mfa").
 */
export const AMR_BY_METHOD: Readonly<Record<AuthMethod, readonly string[]>> = {
  biometric: ['hwk', 'user', 'mfa'],
  pin: ['hwk', 'pin', 'mfa'],
};

export interface PreauthClaims {
  iss: string;
  aud: string | string[];
  sub: string; // customer id
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  amr: string[];
  /** Private claim: how the customer unlocked the device key, in our words. */
  auth_method: AuthMethod;
  auth_time: number;
  crq: string; // call request id
  ref: string; // reference number shown to both sides
  did: string; // device id
  cnf: { jkt: string };
  /** Private claim: place a call, or answer the agent-dialled callback it was issued for. */
  use: TokenUse;
}

export interface IssuePreauthInput {
  keyRing: KeyRing;
  store: { tokens: TokenRepo };
  issuer: string;
  audience: string;
  lifetimeSeconds: number;
  customerId: string;
  callRequestId: string;
  reference: string;
  deviceId: string;
  deviceKeyThumbprint: string;
  amr: AuthMethod;
  authTime: Date;
  now: Date;
  /** Defaults to 'call'; 'callback-answer' when the request is an agent-dialled callback ringing. */
  use?: TokenUse;
}

export interface IssuedPreauthToken {
  token: string;
  jti: string;
  expiresAt: Date;
}

const JWS = es256Jws({ typ: PREAUTH_TOKEN_TYPE, label: 'Pre-authentication token', maxLength: MAX_PREAUTH_TOKEN_LENGTH });

/** Signs a token for an authenticated accept and records its jti for single use. */
export async function issuePreauthToken(input: IssuePreauthInput): Promise<IssuedPreauthToken> {
  const { lifetimeSeconds } = input;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > MAX_PREAUTH_LIFETIME_SECONDS) {
    throw new AppError(
      'validation_failed',
      `A pre-authentication token lives between 1 and ${MAX_PREAUTH_LIFETIME_SECONDS} seconds (asked for ${lifetimeSeconds}).`,
      { field: 'lifetimeSeconds' },
    );
  }
  const amr = AMR_BY_METHOD[input.amr];
  if (!amr) throw new AppError('validation_failed', 'Unknown authentication method.', { field: 'amr' });
  for (const [name, value] of Object.entries({
    issuer: input.issuer,
    audience: input.audience,
    customerId: input.customerId,
    callRequestId: input.callRequestId,
    reference: input.reference,
    deviceId: input.deviceId,
    deviceKeyThumbprint: input.deviceKeyThumbprint,
  })) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new AppError('validation_failed', `Cannot issue a token without ${name}.`, { field: name });
    }
  }

  const iat = Math.floor(input.now.getTime() / 1000);
  const exp = iat + lifetimeSeconds;
  const jti = randomSecret(16); // 128 random bits
  const claims: PreauthClaims = {
    iss: input.issuer,
    aud: input.audience,
    sub: input.customerId,
    iat,
    nbf: iat,
    exp,
    jti,
    amr: [...amr],
    auth_method: input.amr,
    auth_time: Math.floor(input.authTime.getTime() / 1000),
    crq: input.callRequestId,
    ref: input.reference,
    did: input.deviceId,
    cnf: { jkt: input.deviceKeyThumbprint },
    use: input.use ?? 'call',
  };
  const token = JWS.sign(input.keyRing, claims);
  const expiresAt = new Date(exp * 1000);
  // Recorded before it is handed out: a token the store does not know can never be consumed.
  await input.store.tokens.record({
    jti,
    callRequestId: input.callRequestId,
    customerId: input.customerId,
    deviceId: input.deviceId,
    expiresAt,
  });
  return { token, jti, expiresAt };
}

function invalid(message: string): never {
  return JWS.invalid(message);
}

export type SignatureCheckedToken = SignatureCheckedJws;

/**
 * Checks shape, header and signature only: no claim checks, nothing consumed. For measuring the
 * cryptographic path and for reading a token's claims where the full check happens elsewhere.
 */
export function verifyPreauthSignatureOnly(token: string, opts: { keyRing: KeyRing; now: Date }): SignatureCheckedToken {
  return JWS.verifySignature(token, opts.keyRing, opts.now);
}

export interface VerifyPreauthOptions {
  keyRing: KeyRing;
  store: { tokens: TokenRepo };
  issuer: string;
  audience: string;
  /** The SIP dialog the token is spent on; recorded with the consumption. */
  dialogId: string;
  now: Date;
  expectedKeyThumbprint?: string;
  expectedCallRequestId?: string;
  /** What the token must have been issued for; a token without the claim is a 'call' token. */
  expectedUse?: TokenUse;
  clockSkewSeconds?: number;
  /**
   * Runs once the token's signature and claims are valid and before its jti is consumed: the
   * place for the device's proof of possession (device-proof.ts). When it throws, the token is
   * left unspent, so a refused proof cannot burn the genuine device's token.
   */
  confirmPossession?: (claims: PreauthClaims) => Promise<void> | void;
  /**
   * Spends the jti once everything else checked out; by default `store.tokens.consume`. Call
   * setup passes one that spends it in the same statement as the call request's move.
   */
  consume?: (claims: PreauthClaims) => Promise<ConsumeResult>;
}

export interface VerifiedPreauthToken {
  jti: string;
  kid: string;
  customerId: string;
  callRequestId: string;
  reference: string;
  deviceId: string;
  authMethod: AuthMethod;
  amr: string[];
  authTime: Date;
  issuedAt: Date;
  expiresAt: Date;
  keyThumbprint: string;
  use: TokenUse;
  claims: PreauthClaims;
}

function str(p: Record<string, unknown>, name: string): string {
  const v = p[name];
  if (typeof v !== 'string' || v.length === 0) invalid(`claim "${name}" is missing or not a string`);
  return v;
}

function num(p: Record<string, unknown>, name: string): number {
  const v = p[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) invalid(`claim "${name}" is missing or not a number`);
  return v;
}

function readClaims(p: Record<string, unknown>): PreauthClaims {
  const aud = p.aud;
  if (!(typeof aud === 'string' || (Array.isArray(aud) && aud.every((a) => typeof a === 'string')))) {
    invalid('claim "aud" is missing or not a string');
  }
  const amr = p.amr;
  if (!Array.isArray(amr) || !amr.every((a) => typeof a === 'string')) invalid('claim "amr" is missing or not a list');
  const method = p.auth_method;
  if (method !== 'biometric' && method !== 'pin') invalid('claim "auth_method" is missing or unknown');
  const cnf = p.cnf;
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined;
  if (typeof jkt !== 'string' || jkt.length === 0) invalid('claim "cnf.jkt" is missing');
  const use = p.use ?? 'call';
  if (use !== 'call' && use !== 'callback-answer') invalid('claim "use" is unknown');
  return {
    iss: str(p, 'iss'),
    aud,
    sub: str(p, 'sub'),
    iat: num(p, 'iat'),
    nbf: num(p, 'nbf'),
    exp: num(p, 'exp'),
    jti: str(p, 'jti'),
    amr,
    auth_method: method,
    auth_time: num(p, 'auth_time'),
    crq: str(p, 'crq'),
    ref: str(p, 'ref'),
    did: str(p, 'did'),
    cnf: { jkt },
    use,
  };
}

/**
 * The full check the SIP server runs at call setup. Resolves with the verified claims once the
 * token has been consumed for `dialogId`; otherwise throws AppError token_invalid /
 * token_expired / token_replayed / token_misbound. Messages never repeat the token.
 */
export async function verifyPreauthToken(token: string, opts: VerifyPreauthOptions): Promise<VerifiedPreauthToken> {
  const { now } = opts;
  const { kid, payload } = await JWS.verifySignatureOrReload(token, opts.keyRing, now);
  const claims = readClaims(payload);

  if (claims.iss !== opts.issuer) invalid('issued by someone else');
  const audOk = typeof claims.aud === 'string' ? claims.aud === opts.audience : claims.aud.includes(opts.audience);
  if (!audOk) invalid('meant for another audience');

  const skew = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  const nowS = now.getTime() / 1000;
  if (claims.exp <= claims.iat || claims.exp - claims.iat > MAX_PREAUTH_LIFETIME_SECONDS) {
    invalid(`lifetime is not between 1 and ${MAX_PREAUTH_LIFETIME_SECONDS} seconds`);
  }
  // No leeway after exp: the store's single-use check refuses at exp too, and a verifier whose
  // clock runs ahead only shortens a 2-minute token by seconds. Leeway applies to nbf/iat, where
  // a verifier whose clock runs behind the issuer's would otherwise refuse fresh tokens.
  if (nowS >= claims.exp) {
    throw new AppError('token_expired', `Pre-authentication token expired at ${new Date(claims.exp * 1000).toISOString()}.`);
  }
  if (nowS < claims.nbf - skew || nowS < claims.iat - skew) invalid('not valid yet (issued in the future)');

  if (opts.expectedKeyThumbprint !== undefined && claims.cnf.jkt !== opts.expectedKeyThumbprint) {
    throw new AppError('token_misbound', 'Pre-authentication token refused: it is bound to a different device key.');
  }
  if (opts.expectedCallRequestId !== undefined && claims.crq !== opts.expectedCallRequestId) {
    throw new AppError('token_misbound', 'Pre-authentication token refused: it was issued for a different call request.');
  }
  if (opts.expectedUse !== undefined && claims.use !== opts.expectedUse) {
    throw new AppError(
      'token_misbound',
      claims.use === 'callback-answer'
        ? 'Pre-authentication token refused: it was issued to answer a callback, not to place a call.'
        : 'Pre-authentication token refused: it was issued to place a call, not to answer a callback.',
    );
  }
  if (opts.confirmPossession) await opts.confirmPossession(claims);

  const consumed = await (opts.consume ? opts.consume(claims) : opts.store.tokens.consume(claims.jti, opts.dialogId, now));
  if (consumed === 'replayed') throw new AppError('token_replayed', 'Pre-authentication token refused: it has already been used.');
  if (consumed === 'expired') throw new AppError('token_expired', 'Pre-authentication token refused: it has expired.');
  if (consumed !== 'consumed') invalid('it was not issued by this service');

  return {
    jti: claims.jti,
    kid,
    customerId: claims.sub,
    callRequestId: claims.crq,
    reference: claims.ref,
    deviceId: claims.did,
    authMethod: claims.auth_method,
    amr: claims.amr,
    authTime: new Date(claims.auth_time * 1000),
    issuedAt: new Date(claims.iat * 1000),
    expiresAt: new Date(claims.exp * 1000),
    keyThumbprint: claims.cnf.jkt,
    use: claims.use,
    claims,
  };
}

/** A short, non-secret handle for logs: the first 8 hex characters of SHA-256(token). */
export function describeTokenForLog(token: string): string {
  return `tok:${createHash('sha256').update(String(token)).digest('hex').slice(0, 8)}`;
}
