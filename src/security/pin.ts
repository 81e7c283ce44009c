/**
 * Device PINs: the fallback to biometrics when a customer accepts a call (SPEC core flow 1,
 * step 3). A PIN has little entropy, so it is kept under the same slow hash as passwords and
 * guessing is capped per device by a failure counter with a timed lock-out.
 */
import { AppError } from '../domain/errors.js';
import type { DeviceRepo } from '../store/store.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyPassword, type ScryptParams } from './passwords.js';

export interface PinPolicy {
  /** Wrong PINs in a row that lock the device. */
  maxAttempts: number;
  lockoutMinutes: number;
}

const MAX_PIN_LENGTH = 32;

export function hashPin(pin: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  return hashPassword(pin, params);
}

/**
 * Refuses PINs a stranger would try first: too short, not only digits, one digit repeated,
 * a run such as 123456 / 987654 (wrapping 8-9-0-1 counts too), or a two-digit pattern like 121212.
 */
export function validatePinFormat(pin: string, minLength: number): void {
  const fail = (message: string): never => {
    throw new AppError('validation_failed', message, { field: 'pin' });
  };
  if (typeof pin !== 'string' || !/^[0-9]+$/.test(pin)) fail('The PIN must contain digits only.');
  if (pin.length < minLength) fail(`The PIN must have at least ${minLength} digits.`);
  if (pin.length > MAX_PIN_LENGTH) fail(`The PIN must have at most ${MAX_PIN_LENGTH} digits.`);
  const digits = [...pin].map(Number);
  if (digits.every((d) => d === digits[0])) fail('The PIN must not repeat a single digit.');
  const steps = digits.slice(1).map((d, i) => (d - digits[i]! + 10) % 10);
  if (steps.every((s) => s === 1) || steps.every((s) => s === 9)) {
    fail('The PIN must not be a run of consecutive digits.');
  }
  if (digits.every((d, i) => d === digits[i % 2])) fail('The PIN must not repeat a two-digit pattern.');
}

export interface CheckPinInput {
  store: { devices: DeviceRepo };
  deviceId: string;
  pin: string;
  policy: PinPolicy;
  now: Date;
}

function lockedError(until: Date): AppError {
  return new AppError(
    'pin_locked',
    `Too many wrong PINs: this device is locked until ${until.toISOString()}.`,
    { lockedUntil: until.toISOString(), attemptsLeft: 0 },
  );
}

/**
 * Checks the device's PIN. Resolves when it is right; otherwise throws
 *  - pin_locked   while the device is locked (details.lockedUntil), including on the wrong
 *                 attempt that locks it;
 *  - auth_failed  for a wrong PIN, saying how many attempts are left (details.attemptsLeft);
 *  - not_found    for an unknown device.
 *
 * The attempt is counted *before* the PIN is compared and forgiven after a match. Counting
 * afterwards would let many parallel guesses all be compared before the first failure is
 * written, so the attempt limit would not hold under concurrency.
 */
export async function checkPin(input: CheckPinInput): Promise<void> {
  const { store, deviceId, pin, policy, now } = input;
  const secrets = await store.devices.secrets(deviceId);
  if (!secrets) throw new AppError('not_found', 'This device is not enrolled.');
  if (!secrets.pinHash) throw new AppError('auth_failed', 'No PIN is set on this device.');
  if (secrets.pinLockedUntil && secrets.pinLockedUntil > now) throw lockedError(secrets.pinLockedUntil);

  const lockUntil = new Date(now.getTime() + policy.lockoutMinutes * 60_000);
  const charged = await store.devices.recordPinFailure(deviceId, policy.maxAttempts, lockUntil, now);
  // A concurrent guess locked the device after we read it: this one is refused unseen, so the
  // number of PINs ever compared is exactly maxAttempts per lock period.
  if (charged.wasLocked) throw lockedError(charged.pinLockedUntil!);
  const lockedNow = charged.pinLockedUntil !== null && charged.pinLockedUntil > now;

  const ok = await verifyPassword(pin, secrets.pinHash);
  if (ok) {
    await store.devices.resetPinFailures(deviceId);
    return;
  }
  if (lockedNow) throw lockedError(charged.pinLockedUntil!);
  const attemptsLeft = Math.max(0, policy.maxAttempts - charged.pinFailedAttempts);
  throw new AppError(
    'auth_failed',
    `Wrong PIN. ${attemptsLeft} attempt${attemptsLeft === 1 ? '' : 's'} left before the device is locked for ${policy.lockoutMinutes} minutes.`,
    { attemptsLeft },
  );
}
