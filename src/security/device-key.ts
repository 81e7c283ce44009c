/**
 * The device key: a P-256 key pair every enrolled device creates (WebCrypto, non-extractable
 * private part). The server keeps the public JWK (RFC 7517/7518 §6.2.1) and its RFC 7638
 * thumbprint, which pre-authentication tokens carry as cnf.jkt (RFC 7800 §3.1, RFC 9449 §6.1).
 * The app proves possession by signing server challenges with ECDSA P-256 / SHA-256, in the
 * IEEE P1363 r||s form WebCrypto produces (RFC 7518 §3.4).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AppError } from '../domain/errors.js';

/** The public members of a P-256 JWK, nothing else. */
export interface P256PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

export interface DevicePublicKey {
  jwk: P256PublicJwk;
  /** RFC 7638 thumbprint (base64url SHA-256). */
  thumbprint: string;
  keyObject: KeyObject;
}

const B64U = /^[A-Za-z0-9_-]+$/;
// Members that belong to private keys (RFC 7518 §6.2.2, §6.3.2, §6.4); a device must never send them.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function invalid(message: string): never {
  throw new AppError('validation_failed', message, { field: 'publicKeyJwk' });
}

function coordinate(value: unknown, name: string): string {
  if (typeof value !== 'string' || !B64U.test(value)) invalid(`The device key's "${name}" must be base64url.`);
  const bytes = Buffer.from(value, 'base64url');
  // RFC 7518 §6.2.1.2: exactly the field size, leading zeros kept; and one canonical spelling.
  if (bytes.length !== 32 || bytes.toString('base64url') !== value) {
    invalid(`The device key's "${name}" must encode exactly 32 bytes.`);
  }
  return value;
}

/**
 * Validates and imports the public JWK a device sends at enrollment. Refuses anything but an
 * EC P-256 public key, and refuses outright any JWK carrying private material.
 */
export function importDevicePublicKey(input: unknown): DevicePublicKey {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid('The device key must be a JWK object.');
  const jwk = input as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) invalid('The device key must be a public key: private key members are not accepted.');
  if (jwk.kty !== 'EC') invalid('The device key must have kty "EC".');
  if (jwk.crv !== 'P-256') invalid('The device key must be on curve P-256.');
  if (jwk.alg !== undefined && jwk.alg !== 'ES256') invalid('The device key may only be used with ES256.');
  if (jwk.use !== undefined && jwk.use !== 'sig') invalid('The device key must be a signing key.');
  const pub: P256PublicJwk = { kty: 'EC', crv: 'P-256', x: coordinate(jwk.x, 'x'), y: coordinate(jwk.y, 'y') };
  let keyObject: KeyObject;
  try {
    // OpenSSL rejects points that are not on the curve here.
    keyObject = createPublicKey({ key: { ...pub }, format: 'jwk' });
  } catch {
    invalid('The device key is not a valid P-256 point.');
  }
  return { jwk: pub, thumbprint: jwkThumbprint(pub), keyObject };
}

/**
 * RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace
 * (§3.2 lists crv, kty, x, y for EC keys), base64url without padding.
 */
export function jwkThumbprint(jwk: P256PublicJwk): string {
  const canonical = `{"crv":${JSON.stringify(jwk.crv)},"kty":${JSON.stringify(jwk.kty)},"x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

/**
 * True when `signatureB64u` is a valid ES256 signature by this device key over `data`
 * (strings are signed as UTF-8). Malformed signatures are simply not valid.
 */
export function verifyDeviceSignature(
  key: DevicePublicKey | Record<string, unknown>,
  data: string | Buffer,
  signatureB64u: string,
): boolean {
  const imported = 'keyObject' in key && 'thumbprint' in key ? (key as DevicePublicKey) : importDevicePublicKey(key);
  if (typeof signatureB64u !== 'string' || !B64U.test(signatureB64u)) return false;
  const signature = Buffer.from(signatureB64u, 'base64url');
  if (signature.length !== 64) return false;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    return verify('sha256', bytes, { key: imported.keyObject, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
