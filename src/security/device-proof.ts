/**
 * Proof of possession of the device key at call setup, in the spirit of DPoP (RFC 9449) adapted
 * to SIP. The pre-authentication token names its device key by thumbprint (cnf.jkt, RFC 7800
 * §3.1); on its own it is a bearer token anyone holding it could present. The app therefore adds
 *
 *   Knock-Device-Proof: <base64url ES256 signature, IEEE P1363 r||s>
 *
 * to its INVITE, signed with the device key over a string that binds this one call: the token's
 * jti (RFC 9449 §4.2 binds proofs to the token in the same way with `ath`), and the Call-ID and
 * From tag the app's user agent chose (RFC 3261 §8.1.1.4, §8.1.1.3), which the app knows before
 * sending. A copied token, or a proof lifted from another INVITE, is worthless without the key.
 *
 * Pure: the caller loads the device record; nothing is consumed or stored here.
 */
import { AppError } from '../domain/errors.js';
import { importDevicePublicKey, verifyDeviceSignature, type DevicePublicKey } from './device-key.js';

/** The SIP header carrying the proof. */
export const DEVICE_PROOF_HEADER = 'Knock-Device-Proof';
/** Prefix of the signed string: keeps these signatures apart from the accept challenges the same key signs. */
export const DEVICE_PROOF_CONTEXT = 'knock-call-proof.v1';

export interface DeviceProofBinding {
  /** The pre-authentication token's jti. */
  jti: string;
  /** The INVITE's Call-ID. */
  callId: string;
  /** The tag of the INVITE's From header. */
  fromTag: string;
}

/** The exact UTF-8 text the device signs: `knock-call-proof.v1|<jti>|<Call-ID>|<From tag>`. */
export function deviceProofInput(b: DeviceProofBinding): string {
  // "|" appears in neither a base64url jti, a Call-ID (RFC 3261 §25.1 word) nor a tag (token).
  return `${DEVICE_PROOF_CONTEXT}|${b.jti}|${b.callId}|${b.fromTag}`;
}

/**
 * A REGISTER's proof has its own context and covers the Contact too: otherwise someone in the
 * path could present the token and proof first with their own Contact and receive the calls.
 */
export const REGISTER_PROOF_CONTEXT = 'knock-register-proof.v1';

/** `knock-register-proof.v1|<jti>|<Call-ID>|<From tag>|<Contact URI>` (the URI inside <>; empty for a query). */
export function registerProofInput(b: DeviceProofBinding & { contact: string }): string {
  return `${REGISTER_PROOF_CONTEXT}|${b.jti}|${b.callId}|${b.fromTag}|${b.contact}`;
}

export interface VerifyDeviceProofInput extends DeviceProofBinding {
  /** The header value as received; null or empty when the INVITE carried none. */
  proof: string | null | undefined;
  /** The token's cnf.jkt. */
  expectedThumbprint: string;
  /** The enrolled device the token names (its `did`), or null when there is none. */
  device: { publicKeyJwk: Record<string, unknown>; revokedAt: Date | null } | null;
  /** Set for a REGISTER: its Contact URI is signed too, under REGISTER_PROOF_CONTEXT. */
  register?: { contact: string };
}

function misbound(message: string, kind = 'Pre-authentication token'): never {
  throw new AppError('token_misbound', `${kind} refused: ${message}.`);
}

// Enrolled keys already imported, by their stored JWK text: importing (point validation and
// thumbprint) costs about as much as the signature check itself, and the same JWK always gives
// the same key. Bounded so a flood of distinct devices cannot grow it without limit.
const importedKeys = new Map<string, DevicePublicKey>();
const MAX_IMPORTED_KEYS = 5000;

function importedKey(jwk: Record<string, unknown>): DevicePublicKey {
  const text = JSON.stringify(jwk);
  let key = importedKeys.get(text);
  if (!key) {
    key = importDevicePublicKey(jwk);
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.clear();
    importedKeys.set(text, key);
  }
  return key;
}

/**
 * Throws AppError token_misbound unless `proof` is a valid signature over this call's binding by
 * the device key the token is bound to. Messages never repeat the proof or the token.
 */
export function verifyDeviceProof(input: VerifyDeviceProofInput): void {
  const kind = input.register ? 'Registration token' : undefined;
  if (typeof input.proof !== 'string' || input.proof.trim().length === 0) misbound('device proof required', kind);
  if (!input.device || input.device.revokedAt) misbound('the device it was issued to is no longer enrolled', kind);
  if (!input.callId || !input.fromTag) misbound(`the ${input.register ? 'REGISTER' : 'call'} has no Call-ID or From tag to bind the device proof to`, kind);
  let key: DevicePublicKey;
  try {
    key = importedKey(input.device.publicKeyJwk);
  } catch {
    misbound('the enrolled device key is unusable', kind);
  }
  // The stored key must be the one the token names; otherwise a proof by it proves nothing.
  if (key.thumbprint !== input.expectedThumbprint) misbound('it is bound to a different device key', kind);
  if (!verifyDeviceSignature(key, input.register ? registerProofInput({ ...input, contact: input.register.contact }) : deviceProofInput(input), input.proof.trim())) {
    misbound(`the device proof does not verify for this ${input.register ? 'registration' : 'call'} and device key`, kind);
  }
}
