/**
 * The device key (WebCrypto ECDSA P-256). Created non-extractable; its public half goes to the
 * server at enrolment as a JWK, and the private half signs accept challenges when the customer
 * uses the PIN: the signature proves this enrolled device, the PIN proves the person. It also
 * signs each call's Knock-Device-Proof, so the pre-authentication token is useless elsewhere.
 */
export async function createDeviceKey() {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

/** The public key's members the server wants: kty, crv, x, y (nothing private). */
export async function publicJwk(keyPair) {
  const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

export function base64url(bytes) {
  const b = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Signs the challenge text (UTF-8); WebCrypto gives r||s, which is what the server expects. */
export async function signChallenge(keyPair, challenge) {
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keyPair.privateKey, new TextEncoder().encode(challenge));
  return base64url(sig);
}

/** Prefix of the call proof's signed text; the server's device-proof check uses the same. */
const CALL_PROOF_CONTEXT = 'knock-call-proof.v1';

/** The token's jti, read from its payload (the app only reads it; the server verifies the token). */
export function tokenJti(token) {
  try {
    const payload = JSON.parse(new TextDecoder().decode(fromBase64url(String(token).split('.')[1] || '')));
    return typeof payload.jti === 'string' ? payload.jti : '';
  } catch {
    return '';
  }
}

/**
 * The Knock-Device-Proof for one call: the device key's signature over
 * `knock-call-proof.v1|<token jti>|<Call-ID>|<From tag>`, binding the token to this INVITE.
 */
export async function signCallProof(keyPair, { token, callId, fromTag }) {
  return signChallenge(keyPair, `${CALL_PROOF_CONTEXT}|${tokenJti(token)}|${callId}|${fromTag}`);
}

/**
 * The Knock-Device-Proof for one REGISTER: its own context, and it covers the Contact URI, so
 * the token and proof cannot register someone else's Contact:
 * `knock-register-proof.v1|<token jti>|<Call-ID>|<From tag>|<Contact URI>`.
 */
export async function signRegisterProof(keyPair, { token, callId, fromTag, contact }) {
  return signChallenge(keyPair, `knock-register-proof.v1|${tokenJti(token)}|${callId}|${fromTag}|${contact}`);
}
