/**
 * Changing a device's PIN. The device credential alone is not enough: whoever holds the phone
 * could otherwise replace a PIN they never knew and lift a lock-out. A change answers a fresh
 * challenge (as an accept does) with the device key's signature, plus the current PIN (counted
 * like any PIN answer) or a passkey assertion. A locked device is refused until the lock ends,
 * and a new PIN never clears the failure count or the lock.
 */
import { AppError, isAppError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';
import { verifyDeviceSignature } from '../security/device-key.js';
import { checkPin, hashPin, pinChangedError, validatePinFormat } from '../security/pin.js';
import { issueChallenge, passkeyOptionsFor, verifyPasskeyAnswer } from './challenges.js';
import type { FlowDeps } from './ports.js';

export interface PinChangeChallenge {
  challengeId: string;
  /** To be signed by the device key. */
  challenge: string;
  expiresAt: Date;
  /** What can confirm the change besides the device key: the current PIN, the passkey; none before a first PIN. */
  methods: Array<'pin' | 'biometric'>;
  webauthn: unknown | null;
}

export interface PinChangeInput {
  pin: string;
  challengeId: string;
  signature: string;
  currentPin?: string;
  webauthn?: unknown;
}

function lockedError(until: Date): AppError {
  return new AppError('pin_locked', `Too many wrong PINs: the PIN cannot be changed until ${until.toISOString()}.`, { lockedUntil: until.toISOString(), attemptsLeft: 0 });
}

async function audit(deps: FlowDeps, device: Device, decision: 'allow' | 'deny', reason: string, data: Record<string, unknown> = {}) {
  await deps.store.audit.append({ actor: `device:${device.id}`, action: 'device.pin', subject: `device:${device.id}`, decision, reason, data });
}

async function refuseWhileLocked(deps: FlowDeps, device: Device): Promise<{ hasPin: boolean; pinVersion: number }> {
  const secrets = await deps.store.devices.secrets(device.id);
  if (secrets?.pinLockedUntil && secrets.pinLockedUntil > deps.clock()) {
    await audit(deps, device, 'deny', 'PIN change refused: the device is locked after too many wrong PINs', { code: 'pin_locked' });
    throw lockedError(secrets.pinLockedUntil);
  }
  return { hasPin: secrets?.pinHash != null, pinVersion: secrets?.pinVersion ?? 0 };
}

export async function beginPinChange(deps: FlowDeps, device: Device): Promise<PinChangeChallenge> {
  const { hasPin } = await refuseWhileLocked(deps, device);
  const challenge = await issueChallenge(deps, { deviceId: device.id, callRequestId: null, purpose: 'change_pin' });
  const methods: PinChangeChallenge['methods'] = [];
  if (hasPin) methods.push('pin');
  if (device.webauthn) methods.push('biometric');
  const webauthn = await passkeyOptionsFor(deps, device, challenge.value);
  return { challengeId: challenge.id, challenge: challenge.value, expiresAt: challenge.expiresAt, methods, webauthn };
}

export async function changeDevicePin(deps: FlowDeps, device: Device, input: PinChangeInput): Promise<void> {
  const { store, config } = deps;
  validatePinFormat(input.pin, config.auth.pin.minLength);
  const challenge = await store.challenges.consume(input.challengeId, device.id, deps.clock());
  if (!challenge || challenge.purpose !== 'change_pin') {
    await audit(deps, device, 'deny', 'PIN change refused: challenge unknown, used, expired or for something else', { code: 'challenge_invalid' });
    throw new AppError('challenge_invalid', 'The PIN change challenge is unknown, used or expired; start again.');
  }
  const { hasPin, pinVersion: current } = await refuseWhileLocked(deps, device);
  // A change is made to the PIN its challenge was issued under, once: a client that sent the
  // same change twice (or more) gets one change and conflicts, not wrong PINs and a lock-out.
  const pinVersion = challenge.pinVersion ?? current;
  let method: string;
  try {
    if (current !== pinVersion) throw pinChangedError();
    if (!verifyDeviceSignature(device.publicKeyJwk, challenge.value, input.signature)) {
      throw new AppError('auth_failed', 'The device signature does not match this device.');
    }
    if (input.webauthn !== undefined) {
      if (!device.webauthn) throw new AppError('auth_failed', 'This device has no fingerprint or face sign-in set up.');
      await verifyPasskeyAnswer(deps, { ...device, webauthn: device.webauthn }, input.webauthn, challenge.value);
      method = 'passkey';
    } else if (hasPin) {
      if (input.currentPin === undefined) throw new AppError('auth_failed', 'Enter your current PIN to change it.');
      // A wrong current PIN is a wrong PIN: it counts towards the lock-out.
      await checkPin({ store, deviceId: device.id, pin: input.currentPin, policy: config.auth.pin, now: deps.clock(), pinVersion });
      method = 'current PIN';
    } else if (device.webauthn) {
      throw new AppError('auth_failed', 'Confirm with your fingerprint or face to set a PIN.');
    } else {
      method = 'device key (first PIN)';
    }
  } catch (e) {
    if (isAppError(e)) await audit(deps, device, 'deny', `PIN change refused: ${e.message}`, { code: e.code });
    throw e;
  }
  if (!(await store.devices.setPin(device.id, await hashPin(input.pin), pinVersion))) {
    const e = pinChangedError();
    await audit(deps, device, 'deny', `PIN change refused: ${e.message}`, { code: e.code });
    throw e;
  }
  await audit(deps, device, 'allow', `PIN changed, confirmed by ${method} and the device key`, { method });
}
