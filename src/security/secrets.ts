/**
 * Random secrets and the hashes we keep instead of them.
 *
 * API keys, device credentials, enrollment codes and agent login tokens are high-entropy random
 * values, so a plain SHA-256 is enough to store them (a slow hash only helps low-entropy secrets
 * such as passwords and PINs; see passwords.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A URL-safe random secret (base64url, no padding) of `bytes` random bytes; 32 = 256 bits. */
export function randomSecret(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16) {
    // Fewer than 128 bits is guessable at scale; refuse rather than hand out a weak secret.
    throw new RangeError('a secret needs at least 16 random bytes');
  }
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 of the value (UTF-8 for strings) as lower-case hex: what the store keeps. */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Compares two secrets without leaking where they differ. Both sides are first reduced to
 * SHA-256 digests of equal length, so the comparison time does not depend on the content or on
 * the length of either value (only hashing time does, which reveals nothing useful).
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  const sameDigest = timingSafeEqual(da, db);
  const sameLength = Buffer.byteLength(a) === Buffer.byteLength(b);
  // Both facts are computed before either is used: no early return on a length mismatch.
  return sameDigest && sameLength;
}
