/**
 * The key ring that signs pre-authentication tokens: ES256 (ECDSA P-256, RFC 7518 §3.4) keys
 * kept in the store, identified by a random `kid` (RFC 7515 §4.1.4) and published as a JWK Set
 * (RFC 7517 §5) for /.well-known/jwks.json.
 *
 * Rotation: a key older than `rotationDays` is replaced by a fresh one and retired; a retired key
 * still verifies for `overlapSeconds`, which covers tokens issued just before the switch.
 *
 * Several instances share the store. If two start at once they may each create a key; that is
 * harmless: every unretired key verifies, every instance signs with the newest it has seen, and
 * a key is only retired for being old, never because a sibling appeared, so no instance keeps
 * replacing the others' keys.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import type { SigningKey } from '../domain/model.js';
import type { SigningKeyRepo } from '../store/store.js';
import { randomSecret } from './secrets.js';

export interface KeyRingOptions {
  rotationDays: number;
  overlapSeconds: number;
  /**
   * An unknown kid makes the ring re-read the store (another instance may have rotated), but at
   * most once per this many milliseconds, so forged kids cannot turn into a query flood.
   */
  unknownKidRefreshMs?: number;
  logger?: Logger;
}

/** A public JWK as published in the JWK Set. */
export interface PublicSigningJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

export interface SigningKeyHandle {
  kid: string;
  privateKey: KeyObject;
}

interface CachedKey {
  kid: string;
  createdAt: Date;
  retiredAt: Date | null;
  publicKey: KeyObject;
  privateKey: KeyObject | null;
  publicJwk: PublicSigningJwk;
}

const DAY_MS = 86_400_000;

function newestFirst(a: { createdAt: Date; kid: string }, b: { createdAt: Date; kid: string }): number {
  const byTime = b.createdAt.getTime() - a.createdAt.getTime();
  // Same instant: order by kid so every instance picks the same "newest".
  return byTime !== 0 ? byTime : a.kid < b.kid ? 1 : a.kid > b.kid ? -1 : 0;
}

function publicJwkOf(k: SigningKey): PublicSigningJwk {
  const j = k.publicJwk;
  return { kty: 'EC', crv: 'P-256', x: String(j.x), y: String(j.y), kid: k.kid, alg: 'ES256', use: 'sig' };
}

export class KeyRing {
  private readonly repo: SigningKeyRepo;
  private readonly options: KeyRingOptions;
  private keys = new Map<string, CachedKey>();
  private signing: CachedKey | null = null;
  private lastRead = Number.NEGATIVE_INFINITY;

  private constructor(store: { signingKeys: SigningKeyRepo }, options: KeyRingOptions) {
    this.repo = store.signingKeys;
    this.options = options;
  }

  /** Reads the keys, creating a first or replacement key when none is young enough. */
  static async load(store: { signingKeys: SigningKeyRepo }, options: KeyRingOptions, now: Date): Promise<KeyRing> {
    const ring = new KeyRing(store, options);
    await ring.refresh(now);
    return ring;
  }

  /** The key new tokens are signed with: the newest unretired one. */
  current(): SigningKeyHandle {
    if (!this.signing?.privateKey) throw new AppError('unavailable', 'No signing key is loaded.');
    return { kid: this.signing.kid, privateKey: this.signing.privateKey };
  }

  /** The public key for `kid` if it is active, or retired less than overlapSeconds ago. */
  verificationKey(kid: string, now: Date): KeyObject | null {
    const k = this.keys.get(kid);
    if (!k) return null;
    if (k.retiredAt && k.retiredAt.getTime() + this.options.overlapSeconds * 1000 <= now.getTime()) return null;
    return k.publicKey;
  }

  /**
   * Like verificationKey, but an unknown kid first re-reads the store (throttled): a sibling
   * instance may have rotated since this one loaded.
   */
  async verificationKeyOrReload(kid: string, now: Date): Promise<KeyObject | null> {
    const known = this.verificationKey(kid, now);
    if (known || this.keys.has(kid)) return known;
    const wait = this.options.unknownKidRefreshMs ?? 10_000;
    if (now.getTime() - this.lastRead < wait) return null;
    await this.reload(now);
    return this.verificationKey(kid, now);
  }

  /** The JWK Set (RFC 7517 §5) of every key that still verifies at `now`. */
  jwks(now: Date = new Date()): { keys: PublicSigningJwk[] } {
    const keys = [...this.keys.values()]
      .filter((k) => this.verificationKey(k.kid, now) !== null)
      .sort(newestFirst)
      .map((k) => ({ ...k.publicJwk }));
    return { keys };
  }

  /**
   * Re-reads the store and rotates when the newest active key is older than rotationDays.
   * Call at start-up (load does) and from housekeeping.
   */
  async refresh(now: Date): Promise<void> {
    const stored = await this.repo.list();
    const cutoff = now.getTime() - this.options.rotationDays * DAY_MS;
    const active = stored.filter((k) => !k.retiredAt).sort(newestFirst);
    const newest = active[0];
    if (!newest || newest.createdAt.getTime() <= cutoff) {
      const kid = await this.createKey(now);
      // Retire only keys that are due: a fresh key a sibling created a moment ago stays active.
      for (const k of active) {
        if (k.createdAt.getTime() <= cutoff) await this.repo.retire(k.kid, now);
      }
      this.options.logger?.info({ kid, retired: active.map((k) => k.kid) }, 'signing key rotated (due)');
      await this.reload(now);
      return;
    }
    this.rebuild(stored, now);
  }

  /** Creates a new signing key now and retires every other active key (for an operator CLI). */
  async rotate(now: Date): Promise<string> {
    const before = (await this.repo.list()).filter((k) => !k.retiredAt);
    const kid = await this.createKey(now);
    for (const k of before) await this.repo.retire(k.kid, now);
    this.options.logger?.info({ kid, retired: before.map((k) => k.kid) }, 'signing key rotated (manual)');
    await this.reload(now);
    return kid;
  }

  private async createKey(now: Date): Promise<string> {
    const kid = randomSecret(16);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const priv = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const pub = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    await this.repo.insert({
      kid,
      privateJwk: priv,
      publicJwk: { ...pub, kid, alg: 'ES256', use: 'sig' },
      createdAt: now,
    });
    return kid;
  }

  private async reload(now: Date): Promise<void> {
    this.rebuild(await this.repo.list(), now);
  }

  /** Rebuilds the cache, reusing imported KeyObjects so verification never imports per call. */
  private rebuild(stored: SigningKey[], now: Date): void {
    this.lastRead = now.getTime();
    const next = new Map<string, CachedKey>();
    for (const k of stored) {
      const expired = k.retiredAt && k.retiredAt.getTime() + this.options.overlapSeconds * 1000 <= now.getTime();
      if (expired) continue;
      const old = this.keys.get(k.kid);
      const publicKey = old?.publicKey ?? createPublicKey({ key: { ...publicJwkOf(k) }, format: 'jwk' });
      const privateKey = k.retiredAt ? null : (old?.privateKey ?? createPrivateKey({ key: k.privateJwk as JsonWebKey, format: 'jwk' }));
      next.set(k.kid, {
        kid: k.kid,
        createdAt: k.createdAt,
        retiredAt: k.retiredAt,
        publicKey,
        privateKey,
        publicJwk: publicJwkOf(k),
      });
    }
    this.keys = next;
    const active = [...next.values()].filter((k) => !k.retiredAt).sort(newestFirst);
    this.signing = active[0] ?? null;
  }
}
