/**
 * Agent passwords (and, through pin.ts, device PINs) are kept as scrypt hashes (RFC 7914) in a
 * self-describing string, so the cost can be raised later without breaking stored hashes:
 *
 *   scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>
 *
 * SIP digest credentials are different: a desk phone proves knowledge of HA1, so HA1 is the only
 * SIP secret the server keeps (RFC 2617 §3.2.2.2, RFC 7616 §3.4.2).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** About 32 MiB and tens of milliseconds per hash: the RFC 7914 §2 interactive-login level. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds on what a stored string may ask for, so a corrupted row cannot make one check eat the
// machine's memory or run for minutes.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024; // scrypt needs 128 * N * r bytes

function scryptAsync(secret: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    // Node's default limit (32 MiB) is exactly 128*N*r for the defaults; leave headroom.
    maxmem: 128 * params.N * params.r + 16 * 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function checkParams(params: ScryptParams): void {
  const { N, r, p } = params;
  const powerOfTwo = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  const inRange = powerOfTwo && N <= MAX_N && Number.isInteger(r) && r >= 1 && r <= MAX_R && Number.isInteger(p) && p >= 1 && p <= MAX_P;
  if (!inRange || 128 * N * r > MAX_MEMORY_BYTES) {
    throw new RangeError('scrypt parameters out of range');
  }
}

/** Hashes a password with a fresh random salt. Passwords are NFC-normalised (RFC 8265 §4.2). */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  if (!/^\d+$/.test(n) || !/^\d+$/.test(r) || !/^\d+$/.test(p)) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  try {
    checkParams(params);
  } catch {
    return null;
  }
  const saltBuf = Buffer.from(salt, 'base64url');
  const keyBuf = Buffer.from(key, 'base64url');
  if (saltBuf.length < 8 || keyBuf.length < 16) return null;
  return { params, salt: saltBuf, key: keyBuf };
}

/**
 * True when the password matches the stored hash. A stored value that is not a hash we know
 * never matches (rather than throwing), so a damaged row locks the account instead of opening it.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const candidate = await scryptAsync(password, parsed.salt, parsed.params);
  return candidate.length === parsed.key.length && timingSafeEqual(candidate, parsed.key);
}

/** True when the stored hash uses weaker parameters than `params` and should be replaced. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parseHash(stored);
  if (!parsed) return true;
  return parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p;
}

/** HA1 = MD5(username ":" realm ":" password), lower-case hex (RFC 2617 §3.2.2.2). */
export function sipHa1(username: string, realm: string, password: string): string {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}

/** HA1 for algorithm=SHA-256 (RFC 7616 §3.4.2): SHA-256(username ":" realm ":" password), hex. */
export function sipHa1Sha256(username: string, realm: string, password: string): string {
  return createHash('sha256').update(`${username}:${realm}:${password}`, 'utf8').digest('hex');
}
