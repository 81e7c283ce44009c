/**
 * Enrolling a customer's device: a one-time code handed out by the contact center (or sent by
 * SMS) lets the app register its device key, a PIN and, later, a passkey (platform biometric).
 * The app then authenticates its API calls with the device credential it receives here.
 */
import { randomInt } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import type { CallRequest, Device, PushSubscription } from '../domain/model.js';
import { importDevicePublicKey } from '../security/device-key.js';
import { hashPin, validatePinFormat } from '../security/pin.js';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import { verifyWebAuthnRegistration, webAuthnRegistrationOptions } from '../security/webauthn.js';
import { enrollmentLimit, reserveAttempt } from './attempt-limits.js';
import { issueChallenge } from './challenges.js';
import type { FlowDeps } from './ports.js';

// No 0/O/1/I: codes are read aloud and typed on phones.
const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

function newEnrollmentCode(): string {
  let code = '';
  for (let i = 0; i < 10; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

function normaliseCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

export async function issueEnrollmentCode(deps: FlowDeps, customerId: string, actor: string): Promise<{ code: string; expiresAt: Date }> {
  if (!(await deps.store.customers.get(customerId))) throw new AppError('not_found', `No customer ${customerId}.`);
  const code = newEnrollmentCode();
  const expiresAt = new Date(deps.clock().getTime() + deps.config.auth.enrollmentCodeMinutes * 60_000);
  await deps.store.enrollmentCodes.create(customerId, sha256Hex(normaliseCode(code)), expiresAt);
  await deps.store.audit.append({ actor, action: 'enrollment.code', subject: `customer:${customerId}`, decision: 'allow', reason: 'enrollment code issued', data: {} });
  return { code, expiresAt };
}

export interface EnrollInput {
  code: string;
  label: string;
  publicKeyJwk: unknown;
  pin: string | null;
  /** The address the attempt came from (the API's caller): wrong codes are limited per address. */
  source?: string;
}

export async function enrollDevice(deps: FlowDeps, input: EnrollInput): Promise<{ device: Device; credential: string }> {
  const key = importDevicePublicKey(input.publicKeyJwk);
  if (input.pin !== null) validatePinFormat(input.pin, deps.config.auth.pin.minLength);
  // Codes are short enough to guess at scale: each address gets a few wrong ones per hour,
  // held before the code is looked up (a right code gives its place back).
  const limit = input.source !== undefined ? enrollmentLimit(deps) : null;
  if (limit) {
    await reserveAttempt(deps, {
      limit,
      key: input.source!,
      audit: {
        actor: `address:${input.source}`,
        action: 'device.enroll',
        subject: null,
        reason: `more than ${deps.config.auth.enrollmentAttemptsPerHour} wrong enrollment codes from this address in an hour; refused unchecked until the window ends`,
      },
      message: 'Too many wrong enrollment codes from this network; try again later.',
    });
  }
  let customerId: string | null = null;
  let checked = false;
  try {
    customerId = await deps.store.enrollmentCodes.consume(sha256Hex(normaliseCode(input.code)), deps.clock());
    checked = true;
  } finally {
    // Only a wrong code keeps its place; a right one (or a look-up that failed) gives it back.
    await limit?.endCheck(input.source!, checked && !customerId ? 'failed' : 'passed');
  }
  if (!customerId) {
    await deps.store.audit.append({ actor: 'anonymous', action: 'device.enroll', subject: null, decision: 'deny', reason: 'enrollment code unknown, used or expired', data: input.source !== undefined ? { source: input.source } : {} });
    throw new AppError('unauthenticated', 'The enrollment code is unknown, already used or expired; ask for a new one.');
  }
  const credential = `dev_${randomSecret(32)}`;
  const device = await deps.store.devices.create({
    customerId,
    label: input.label,
    publicKeyJwk: { ...key.jwk },
    keyThumbprint: key.thumbprint,
    webauthn: null,
    pushSubscription: null,
    pinHash: input.pin !== null ? await hashPin(input.pin) : null,
    credentialHash: sha256Hex(credential),
  });
  await deps.store.audit.append({
    actor: `device:${device.id}`,
    action: 'device.enroll',
    subject: `customer:${customerId}`,
    decision: 'allow',
    reason: 'device enrolled with enrollment code',
    data: { keyThumbprint: key.thumbprint, pin: input.pin !== null },
  });
  return { device, credential };
}

const DEVICE_NOT_ENROLLED = 'This device is not enrolled (or was removed); enrol it again.';

/** Resolves the device behind an API credential; revoked or unknown devices are refused. */
export async function authenticateDevice(deps: Pick<FlowDeps, 'store' | 'clock'>, credential: string): Promise<Device> {
  const device = await deps.store.devices.getByCredentialHash(sha256Hex(credential));
  if (!device || device.revokedAt) throw new AppError('unauthenticated', DEVICE_NOT_ENROLLED);
  return device;
}

/**
 * The device behind an API credential and one call request of its customer, read together (the
 * app's calls about one request). An unknown request, or another customer's, is "not found".
 */
export async function authenticateDeviceWithRequest(
  deps: Pick<FlowDeps, 'store'>,
  credential: string,
  requestId: string,
): Promise<{ device: Device; request: CallRequest }> {
  const found = await deps.store.devices.getByCredentialHashWithRequest(sha256Hex(credential), requestId);
  if (!found || found.device.revokedAt) throw new AppError('unauthenticated', DEVICE_NOT_ENROLLED);
  if (!found.request) throw new AppError('not_found', `No call request ${requestId}.`);
  return { device: found.device, request: found.request };
}

export async function beginPasskeyEnrollment(deps: FlowDeps, device: Device): Promise<{ challengeId: string; options: unknown }> {
  const customer = await deps.store.customers.get(device.customerId);
  const challenge = await issueChallenge(deps, { deviceId: device.id, callRequestId: null, purpose: 'enroll_webauthn' });
  const options = await webAuthnRegistrationOptions({
    config: deps.config.auth.webauthn,
    deviceId: device.id,
    userName: customer?.name ?? device.customerId,
    userDisplayName: `${customer?.name ?? 'Customer'} (${device.label})`,
    challenge: challenge.value,
    timeoutMs: deps.config.auth.challengeLifetimeSeconds * 1000,
  });
  return { challengeId: challenge.id, options };
}

export async function finishPasskeyEnrollment(deps: FlowDeps, device: Device, challengeId: string, response: unknown): Promise<void> {
  const challenge = await deps.store.challenges.consume(challengeId, device.id, deps.clock());
  if (!challenge || challenge.purpose !== 'enroll_webauthn') {
    throw new AppError('challenge_invalid', 'The passkey challenge is unknown, used or expired; start again.');
  }
  const credential = await verifyWebAuthnRegistration({
    config: deps.config.auth.webauthn,
    response: response as Parameters<typeof verifyWebAuthnRegistration>[0]['response'],
    expectedChallenge: challenge.value,
  });
  await deps.store.devices.setWebAuthn(device.id, credential);
  await deps.store.audit.append({ actor: `device:${device.id}`, action: 'device.passkey', subject: `device:${device.id}`, decision: 'allow', reason: 'passkey registered', data: { credentialId: credential.credentialId } });
}

export async function setPushSubscription(deps: FlowDeps, device: Device, sub: PushSubscription | null): Promise<void> {
  if (sub && !/^https?:\/\//.test(sub.endpoint)) throw new AppError('validation_failed', 'The push subscription endpoint must be an http(s) URL.');
  await deps.store.devices.setPushSubscription(device.id, sub);
}
