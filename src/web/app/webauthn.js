/**
 * The passkey (the phone's biometric): the server sends WebAuthn options as JSON with base64url
 * fields; navigator.credentials wants bytes, and its answers go back as JSON again.
 */
import { base64url, fromBase64url } from './device-key.js';
import { language, t } from './i18n.js';

export function webAuthnAvailable() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
}

function requestOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
}

/** navigator.credentials.create with the server's registration options; the JSON to post back. */
export async function createPasskey(optionsJson) {
  const cred = await navigator.credentials.create({ publicKey: creationOptions(optionsJson) });
  if (!cred) throw new Error('No passkey was created.');
  const r = cred.response;
  return credentialJson(cred, {
    attestationObject: base64url(r.attestationObject),
    transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
  });
}

/** navigator.credentials.get with the accept challenge's options; the assertion as JSON. */
export async function usePasskey(optionsJson) {
  const cred = await navigator.credentials.get({ publicKey: requestOptions(optionsJson) });
  if (!cred) throw new Error('The biometric check returned nothing.');
  const r = cred.response;
  return credentialJson(cred, {
    authenticatorData: base64url(r.authenticatorData),
    signature: base64url(r.signature),
    ...(r.userHandle ? { userHandle: base64url(r.userHandle) } : {}),
  });
}

/** The JSON shape the server's WebAuthn library reads, around a ceremony's own response fields. */
function credentialJson(cred, response) {
  return {
    id: cred.id,
    rawId: base64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: { clientDataJSON: base64url(cred.response.clientDataJSON), ...response },
  };
}

/** A sentence for a failed ceremony: the browser's error names are not for customers. */
export function passkeyErrorText(err) {
  switch (err?.name) {
    case 'NotAllowedError':
      return t('passkey.cancelled');
    case 'InvalidStateError':
      return t('passkey.exists');
    case 'SecurityError':
      return t('passkey.insecure');
    case 'NotSupportedError':
      return t('passkey.unsupported');
    default:
      // The browser's message is in the browser's language (and for developers): English only.
      return language === 'en' && err?.message ? err.message : t('passkey.failed');
  }
}
