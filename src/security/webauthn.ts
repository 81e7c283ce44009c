/**
 * Biometric proof through the device's platform authenticator (W3C WebAuthn Level 3): the
 * customer enrols it once per device, then each accept is an assertion over a fresh server
 * challenge. User verification is required: the flag is the only evidence the biometric (or the
 * device's own unlock) actually happened (WebAuthn §7.2 step 15/16 and §6.1 UV flag).
 *
 * The cryptography and the ceremony checks are @simplewebauthn/server's; this file fixes our
 * policy (platform authenticator, UV required, ES256/EdDSA/RS256) and translates results into
 * our records and AppError values.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { AppError } from '../domain/errors.js';
import type { WebAuthnCredential } from '../domain/model.js';

export interface WebAuthnConfig {
  rpId: string;
  rpName: string;
  origins: string[];
}

/** COSE algorithm ids (RFC 9053): ES256, EdDSA, RS256 — what platform authenticators use. */
export const WEBAUTHN_ALGORITHMS = [-7, -8, -257];

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * The library (with its CBOR, ASN.1 and attestation code, ~25 MB resident) is loaded on the
 * first WebAuthn ceremony, not at start-up: a service that never sees one does not carry it.
 */
let loaded: Promise<typeof import('@simplewebauthn/server')> | null = null;
/** Loaded once: each `import()` call goes through the module loader's resolve hooks again. */
const library = () => (loaded ??= import('@simplewebauthn/server'));

/** Our challenges are base64url; the library wants the bytes so options.challenge equals ours. */
function challengeBytes(challenge: string): Uint8Array<ArrayBuffer> {
  const bytes = Buffer.from(challenge, 'base64url');
  if (bytes.length < 16) throw new AppError('challenge_invalid', 'The challenge is too short.');
  return new Uint8Array(bytes);
}

/** The library's messages quote the values it compared; keep the reason, drop the values. */
function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/"[^"]*"/g, '(value)').slice(0, 200);
}

export interface RegistrationOptionsInput {
  config: WebAuthnConfig;
  /** The WebAuthn user handle: the device id, so each enrolled device has its own credential. */
  deviceId: string;
  /** Shown by the platform's passkey UI. */
  userName: string;
  userDisplayName: string;
  /** base64url, from the challenge store. */
  challenge: string;
  /** Credentials this device already holds, so the same authenticator is not enrolled twice. */
  excludeCredentialIds?: string[];
  timeoutMs?: number;
}

export async function webAuthnRegistrationOptions(input: RegistrationOptionsInput): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await library();
  return generateRegistrationOptions({
    rpName: input.config.rpName,
    rpID: input.config.rpId,
    userName: input.userName,
    userDisplayName: input.userDisplayName,
    userID: new Uint8Array(Buffer.from(input.deviceId, 'utf8')),
    challenge: challengeBytes(input.challenge),
    timeout: input.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    attestationType: 'none',
    excludeCredentials: (input.excludeCredentialIds ?? []).map((id) => ({ id })),
    authenticatorSelection: {
      authenticatorAttachment: 'platform',
      residentKey: 'preferred',
      userVerification: 'required',
    },
    supportedAlgorithmIDs: WEBAUTHN_ALGORITHMS,
    preferredAuthenticatorType: 'localDevice',
  });
}

export interface VerifyRegistrationInput {
  config: WebAuthnConfig;
  response: RegistrationResponseJSON;
  expectedChallenge: string;
}

/** Verifies a registration ceremony (WebAuthn §7.1) and returns the credential to store. */
export async function verifyWebAuthnRegistration(input: VerifyRegistrationInput): Promise<WebAuthnCredential> {
  const { verifyRegistrationResponse } = await library();
  let result;
  try {
    result = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.config.origins,
      expectedRPID: input.config.rpId,
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: WEBAUTHN_ALGORITHMS,
    });
  } catch (err) {
    throw new AppError('auth_failed', `Biometric enrolment refused: ${reasonOf(err)}.`);
  }
  if (!result.verified) throw new AppError('auth_failed', 'Biometric enrolment refused: the attestation does not verify.');
  const { credential } = result.registrationInfo;
  return {
    credentialId: credential.id,
    publicKey: Buffer.from(credential.publicKey).toString('base64url'),
    counter: credential.counter,
    transports: credential.transports ?? input.response.response.transports ?? [],
  };
}

export interface AuthenticationOptionsInput {
  config: WebAuthnConfig;
  credential: WebAuthnCredential;
  /** base64url, from the challenge store (the accept challenge). */
  challenge: string;
  timeoutMs?: number;
}

export async function webAuthnAuthenticationOptions(input: AuthenticationOptionsInput): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { generateAuthenticationOptions } = await library();
  return generateAuthenticationOptions({
    rpID: input.config.rpId,
    allowCredentials: [{ id: input.credential.credentialId, transports: input.credential.transports }],
    challenge: challengeBytes(input.challenge),
    timeout: input.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    userVerification: 'required',
  });
}

export interface VerifyAssertionInput {
  credential: WebAuthnCredential;
  response: AuthenticationResponseJSON;
  expectedChallenge: string;
  rpId: string;
  origins: string[];
}

/**
 * Verifies an assertion (WebAuthn §7.2) by the enrolled credential. Refuses (auth_failed) a
 * different credential, a wrong challenge/origin/RP, a bad signature, a missing user
 * verification, and a signature counter that did not increase (§6.1.1: a cloned authenticator).
 * The caller stores newCounter.
 */
export async function verifyWebAuthnAssertion(input: VerifyAssertionInput): Promise<{ newCounter: number; userVerified: boolean }> {
  const { credential, response } = input;
  if (response?.id !== credential.credentialId) {
    throw new AppError('auth_failed', 'Biometric check refused: the credential is not the one enrolled on this device.');
  }
  const { verifyAuthenticationResponse } = await library();
  let result;
  try {
    result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: input.origins,
      expectedRPID: input.rpId,
      credential: {
        id: credential.credentialId,
        publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')),
        counter: credential.counter,
        transports: credential.transports,
      },
      requireUserVerification: true,
    });
  } catch (err) {
    throw new AppError('auth_failed', `Biometric check refused: ${reasonOf(err)}.`);
  }
  if (!result.verified) throw new AppError('auth_failed', 'Biometric check refused: the signature does not verify.');
  // Belt and braces: the library enforces UV above; never accept without it.
  if (!result.authenticationInfo.userVerified) {
    throw new AppError('auth_failed', 'Biometric check refused: the device did not verify the user.');
  }
  return { newCounter: result.authenticationInfo.newCounter, userVerified: true };
}
