/**
 * The compact JWS mechanics the service's own tokens share (RFC 7515 §3.1, §7.1): ES256 only
 * (RFC 7518 §3.4, r||s signatures), signed with the key ring, explicitly typed (RFC 8725 §3.11).
 * Each token module (preauth-token.ts and the SIP registration token) names its format once and
 * adds its own claims and claim checks; signing, shape, header and signature checks live here.
 *
 * Verification follows RFC 8725: the algorithm is fixed and checked before anything else is
 * trusted (§3.1, §3.2); a token of another type is refused (§3.11); critical extensions are
 * refused (RFC 7515 §4.1.11); size is bounded.
 */
import { sign as signData, verify as verifySignature, type KeyObject } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import type { KeyRing } from './signing-keys.js';

export interface Es256JwsFormat {
  /** The header `typ`, lower case, without "application/" (e.g. "preauth+jwt"). */
  typ: string;
  /** How refusals name the token: `<label> refused: <reason>.` */
  label: string;
  /** Longest token accepted, in characters. */
  maxLength: number;
  /** Added to the wrong-type refusal, e.g. "(a call token cannot register)". */
  wrongTypeHint?: string;
}

export interface SignatureCheckedJws {
  kid: string;
  /** The payload as signed; its claims are not validated yet. */
  payload: Record<string, unknown>;
}

export interface Es256Jws {
  /** `<header>.<payload>.<signature>` signed with the key ring's current key. */
  sign(keyRing: KeyRing, claims: object): string;
  /** Shape, header, key (one the ring knows now) and signature; no claim checks. */
  verifySignature(token: unknown, keyRing: KeyRing, now: Date): SignatureCheckedJws;
  /** The same, but an unknown kid first re-reads the ring's store (a sibling's new key). */
  verifySignatureOrReload(token: unknown, keyRing: KeyRing, now: Date): Promise<SignatureCheckedJws>;
  /** Throws AppError token_invalid `<label> refused: <message>.`; never repeats the token. */
  invalid(message: string): never;
}

// One pass over the whole token: three non-empty base64url segments, nothing else.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/;
// 64 bytes = 86 base64url characters whose last one carries 2 bits; its 4 low bits must be 0,
// so each signature has exactly one spelling.
const CANONICAL_LAST_SIG_CHARS = 'AQgw';
/** Bound on the per-format header caches (there are only a few keys at a time). */
const HEADER_CACHE_MAX = 64;

interface SplitJws {
  headerSeg: string;
  signingInput: string;
  payloadSeg: string;
  signature: Buffer;
}

function b64uJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function es256Jws(format: Es256JwsFormat): Es256Jws {
  const typ = format.typ.toLowerCase();
  // Header segments per kid: the header is the same for every token signed by one key.
  const issueHeaders = new Map<string, string>();
  // Header segments already seen to be valid, mapped to their kid: saves a JSON parse per token.
  // Only filled after the kid resolved to a key, so forged headers cannot grow it.
  const knownHeaders = new Map<string, string>();

  function invalid(message: string): never {
    throw new AppError('token_invalid', `${format.label} refused: ${message}.`);
  }

  function split(token: unknown): SplitJws {
    if (typeof token !== 'string' || token.length === 0) invalid('no token');
    if (token.length > format.maxLength) invalid(`longer than ${format.maxLength} characters`);
    if (!COMPACT_JWS.test(token)) invalid('not a compact ES256 JWS (three base64url parts, 64-byte signature)');
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    const sigSeg = token.slice(d2 + 1);
    if (!CANONICAL_LAST_SIG_CHARS.includes(sigSeg.charAt(85))) invalid('signature is not canonically encoded');
    return {
      headerSeg: token.slice(0, d1),
      payloadSeg: token.slice(d1 + 1, d2),
      signingInput: token.slice(0, d2),
      signature: Buffer.from(sigSeg, 'base64url'),
    };
  }

  function parseSegment(seg: string, what: string): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    } catch {
      invalid(`${what} is not JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${what} is not a JSON object`);
    return value as Record<string, unknown>;
  }

  /** Reads the kid from the header, refusing every algorithm but ES256 before anything else. */
  function headerKid(headerSeg: string): string {
    const cached = knownHeaders.get(headerSeg);
    if (cached !== undefined) return cached;
    const header = parseSegment(headerSeg, 'header');
    // RFC 8725 §3.1/§3.2: never let the token choose its algorithm (none, HS256 with the public
    // key as HMAC secret, RS256...).
    if (header.alg !== 'ES256') invalid('header algorithm is not ES256');
    // RFC 7515 §4.1.9: media types compare case-insensitively and "application/" may be left out.
    const t = typeof header.typ === 'string' ? header.typ.toLowerCase() : null;
    if (t !== typ && t !== `application/${typ}`) {
      invalid(`header type is not ${typ}${format.wrongTypeHint ? ` ${format.wrongTypeHint}` : ''}`);
    }
    // RFC 7515 §4.1.11: we understand no extensions, so any critical one is fatal.
    if ('crit' in header) invalid('header lists critical extensions');
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) invalid('header has no usable kid');
    return kid;
  }

  function finish(parts: SplitJws, kid: string, key: KeyObject | null): SignatureCheckedJws {
    if (!key) invalid('signed with an unknown or retired key');
    if (knownHeaders.size >= HEADER_CACHE_MAX) knownHeaders.clear();
    knownHeaders.set(parts.headerSeg, kid);
    const ok = verifySignature('sha256', Buffer.from(parts.signingInput, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, parts.signature);
    if (!ok) invalid('signature does not verify');
    return { kid, payload: parseSegment(parts.payloadSeg, 'payload') };
  }

  return {
    sign(keyRing, claims) {
      const { kid, privateKey } = keyRing.current();
      let header = issueHeaders.get(kid);
      if (!header) {
        header = b64uJson({ alg: 'ES256', typ, kid });
        if (issueHeaders.size >= HEADER_CACHE_MAX) issueHeaders.clear();
        issueHeaders.set(kid, header);
      }
      const signingInput = `${header}.${b64uJson(claims)}`;
      const signature = signData('sha256', Buffer.from(signingInput, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${signingInput}.${signature.toString('base64url')}`;
    },
    verifySignature(token, keyRing, now) {
      const parts = split(token);
      const kid = headerKid(parts.headerSeg);
      return finish(parts, kid, keyRing.verificationKey(kid, now));
    },
    async verifySignatureOrReload(token, keyRing, now) {
      const parts = split(token);
      const kid = headerKid(parts.headerSeg);
      return finish(parts, kid, await keyRing.verificationKeyOrReload(kid, now));
    },
    invalid,
  };
}
