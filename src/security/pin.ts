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
  /** Check against this version of the PIN only (a PIN change); another one is a conflict. */
  pinVersion?: number;
}

/** 423 pin_locked, with the time the lock ends. */
export function pinLockedError(until: Date): AppError {
  return new AppError(
    'pin_locked',
    `Too many wrong PINs: this device is locked until ${until.toISOString()}.`,
    { lockedUntil: until.toISOString(), attemptsLeft: 0 },
  );
}

export function pinChangedError(): AppError {
  return new AppError('conflict', 'The PIN was just changed by another request; nothing was changed by this one.');
}

/** How long a reserved comparison holds its place if its process dies before answering. */
const CHECK_LEASE_MS = 30_000;
/** How long an answer waits for a place while every attempt left is being compared. */
const MAX_WAIT_MS = 10_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Checks the device's PIN. Resolves when it is right; otherwise throws
 *  - pin_locked   while the device is locked (details.lockedUntil), including on the wrong
 *                 attempt that locks it;
 *  - auth_failed  for a wrong PIN, saying how many attempts are left (details.attemptsLeft);
 *  - not_found    for an unknown device.
 *
 * A comparison is reserved in the database *before* the PIN is hashed, and only while the
 * failures plus the comparisons in flight stay under maxAttempts: parallel guesses never compare
 * more PINs than the attempts left. Only wrong PINs count. An answer that finds every attempt
 * left being compared waits for one to finish instead of being refused, so a right PIN under
 * the limit is never locked out by answers that turn out right too.
 */
export async function checkPin(input: CheckPinInput): Promise<void> {
  const { store, deviceId, pin, policy, now, pinVersion } = input;
  const started = Date.now();
  // `now` is the caller's clock, moved on by the time spent waiting for a place.
  let waited = 0;
  const at = () => new Date(now.getTime() + waited);
  let pinHash: string;
  for (;;) {
    const t = at();
    const r = await store.devices.reservePinCheck(deviceId, policy.maxAttempts, t, new Date(t.getTime() + CHECK_LEASE_MS), pinVersion);
    if (r.reserved) {
      pinHash = r.pinHash;
      break;
    }
    const s = r.secrets;
    if (!s) throw new AppError('not_found', 'This device is not enrolled.');
    if (!s.pinHash) throw new AppError('auth_failed', 'No PIN is set on this device.');
    if (s.pinLockedUntil && s.pinLockedUntil > t) throw pinLockedError(s.pinLockedUntil);
    // Not compared (nor counted): the answer was for a PIN that has just been replaced.
    if (pinVersion !== undefined && s.pinVersion !== pinVersion) throw pinChangedError();
    if (Date.now() - started > MAX_WAIT_MS) {
      throw new AppError('rate_limited', 'Other PIN answers for this device are still being checked; try again in a moment.', { retryAfterSeconds: 1 });
    }
    const ms = 10 + Math.random() * 40;
    await pause(ms);
    waited += ms;
  }

  const ok = await verifyPassword(pin, pinHash);
  const lockUntil = new Date(at().getTime() + policy.lockoutMinutes * 60_000);
  const after = await store.devices.finishPinCheck(deviceId, ok, policy.maxAttempts, lockUntil, at());
  // A right PIN reserved under the limit stands even if a concurrent wrong one locked meanwhile.
  if (ok) return;
  if (after.pinLockedUntil && after.pinLockedUntil > at()) throw pinLockedError(after.pinLockedUntil);
  const attemptsLeft = Math.max(0, policy.maxAttempts - after.pinFailedAttempts);
  throw new AppError(
    'auth_failed',
    `Wrong PIN. ${attemptsLeft} attempt${attemptsLeft === 1 ? '' : 's'} left before the device is locked for ${policy.lockoutMinutes} minutes.`,
    { attemptsLeft },
  );
}
