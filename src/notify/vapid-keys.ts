/**
 * The VAPID key pair (RFC 8292) that identifies this service to push services. Browsers bind a
 * subscription to the public key given at subscribe time, so every instance must sign with the
 * same pair, and it must survive restarts: configured keys win; otherwise one pair is generated
 * once and kept in the database (the first instance to store it wins the race).
 */
import { createECDH } from 'node:crypto';
import webpush from 'web-push';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import type { SettingRepo } from '../store/store.js';

export interface VapidKeys {
  /** Uncompressed P-256 point, base64url (65 bytes): the app's applicationServerKey. */
  publicKey: string;
  /** P-256 private scalar, base64url (32 bytes). Never logged. */
  privateKey: string;
  /** mailto: or https: contact for push service operators (RFC 8292 §2.1). */
  subject: string;
}

export const VAPID_SETTING_KEY = 'notify.webpush.vapidKeys';

/** Throws validation_failed when the keys cannot sign a VAPID token the push service accepts. */
export function validateVapidKeys(keys: VapidKeys): void {
  let subjectUrl: URL | null = null;
  try {
    subjectUrl = new URL(keys.subject);
  } catch {
    subjectUrl = null;
  }
  if (!subjectUrl || (subjectUrl.protocol !== 'mailto:' && subjectUrl.protocol !== 'https:')) {
    throw new AppError('validation_failed', 'notify.webpush.subject must be a mailto: address or an https: URL.');
  }
  const pub = Buffer.from(keys.publicKey, 'base64url');
  const priv = Buffer.from(keys.privateKey, 'base64url');
  if (pub.length !== 65 || pub[0] !== 0x04 || priv.length !== 32) {
    throw new AppError(
      'validation_failed',
      'The VAPID keys are malformed: the public key must be a 65-byte uncompressed P-256 point and the private key 32 bytes, both base64url.',
    );
  }
  // A pair that does not belong together signs tokens every push service refuses (403).
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(priv);
  } catch {
    throw new AppError('validation_failed', 'The VAPID private key is not a valid P-256 key.');
  }
  if (!ecdh.getPublicKey().equals(pub)) {
    throw new AppError('validation_failed', 'The VAPID public key does not belong to the VAPID private key.');
  }
}

export async function ensureVapidKeys(config: Pick<Config['notify']['webpush'], 'publicKey' | 'privateKey' | 'subject'>, settings: SettingRepo): Promise<VapidKeys> {
  const configured = Boolean(config.publicKey) || Boolean(config.privateKey);
  if (configured) {
    if (!config.publicKey || !config.privateKey) {
      throw new AppError('validation_failed', 'Set both notify.webpush.publicKey and notify.webpush.privateKey, or neither.');
    }
    const keys = { publicKey: config.publicKey, privateKey: config.privateKey, subject: config.subject };
    validateVapidKeys(keys);
    return keys;
  }

  const fresh = webpush.generateVAPIDKeys();
  const stored = await settings.setIfAbsent(
    VAPID_SETTING_KEY,
    JSON.stringify({ publicKey: fresh.publicKey, privateKey: fresh.privateKey }),
  );
  let parsed: { publicKey?: unknown; privateKey?: unknown };
  try {
    parsed = JSON.parse(stored) as typeof parsed;
  } catch {
    throw new AppError('internal', `The stored VAPID keys (setting ${VAPID_SETTING_KEY}) are not readable.`);
  }
  if (typeof parsed.publicKey !== 'string' || typeof parsed.privateKey !== 'string') {
    throw new AppError('internal', `The stored VAPID keys (setting ${VAPID_SETTING_KEY}) are incomplete.`);
  }
  const keys = { publicKey: parsed.publicKey, privateKey: parsed.privateKey, subject: config.subject };
  validateVapidKeys(keys);
  return keys;
}
