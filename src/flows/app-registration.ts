/**
 * The customer app registers for calls, so an agent-dialled callback can ring it (SPEC core
 * flow 1 step 4, "agent calls" mode):
 *   issueAppRegistration  - the enrolled device asks (API, device credential) and gets a
 *                           short-lived single-use registration token, its AOR and the WebSocket URL;
 *   admitAppRegistration  - the REGISTER carries that token and the device's proof: verify,
 *                           spend, audit (allow or deny with the reason);
 *   appRegistered / appUnregistered - the binding is kept on the device, with its expiry;
 *   liveAppRegistrations / waitForAppRegistration - where a callback can ring the app now.
 * The AOR is `sip:<device id>@<sip domain>`: it names the device, never the customer's number.
 */
import { EventEmitter } from 'node:events';
import { AppError, isAppError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';
import { verifyDeviceProof } from '../security/device-proof.js';
import { describeTokenForLog } from '../security/preauth-token.js';
import { checkAppRegistrationToken, signAppRegistrationToken } from '../security/app-registration-token.js';
import type { AppSipBinding } from '../store/store.js';
import type { FlowDeps } from './ports.js';

/** How long a registration token may be used: long enough to connect and REGISTER once. */
export const APP_REGISTRATION_TOKEN_SECONDS = 60;

export interface IssuedAppRegistration {
  token: string;
  expiresAt: Date;
  /** The address of record to register: sip:<device id>@<sip domain>. */
  aor: string;
  wsUrl: string;
  domain: string;
}

export function appAor(deps: Pick<FlowDeps, 'config'>, deviceId: string): string {
  return `sip:${deviceId}@${deps.config.sip.domain}`;
}

export async function issueAppRegistration(deps: FlowDeps, device: Device): Promise<IssuedAppRegistration> {
  const now = deps.clock();
  const { token, claims } = signAppRegistrationToken({
    keyRing: deps.keyRing,
    issuer: deps.config.tokens.issuer,
    audience: deps.config.sip.domain,
    deviceId: device.id,
    deviceKeyThumbprint: device.keyThumbprint,
    lifetimeSeconds: APP_REGISTRATION_TOKEN_SECONDS,
    now,
  });
  const expiresAt = new Date(claims.exp * 1000);
  // Recorded before it is handed out: a token the store does not know can never be spent.
  await deps.store.devices.recordSipRegistrationToken({ jti: claims.jti, deviceId: device.id, expiresAt });
  await deps.store.audit.append({
    actor: `device:${device.id}`,
    action: 'sip.register.token',
    subject: `device:${device.id}`,
    decision: 'allow',
    reason: 'registration token issued',
    data: { jti: claims.jti, token: describeTokenForLog(token), expiresAt: expiresAt.toISOString() },
  });
  return { token, expiresAt, aor: appAor(deps, device.id), wsUrl: deps.config.sip.wsUrl, domain: deps.config.sip.domain };
}

export interface AdmitAppRegistrationArgs {
  token: string | null;
  /** The device id in the AOR (To header user part). */
  aorDeviceId: string;
  callId: string;
  fromTag: string;
  deviceProof: string | null;
  /** The Contact URI being registered ('' for a query): the device proof covers it. */
  contact: string;
  source: string;
}

/**
 * Order: token (signature, claims, purpose), the AOR is the token's device, the device's proof
 * with its enrolled key, then the jti is spent: a refused proof leaves the token for the genuine
 * device. Throws AppError token_missing / token_invalid / token_expired / token_replayed /
 * token_misbound; every decision is audited.
 */
export async function admitAppRegistration(deps: FlowDeps, args: AdmitAppRegistrationArgs): Promise<Device> {
  const { store, config } = deps;
  const subject = `device:${args.aorDeviceId}`;
  const audit = (decision: 'allow' | 'deny', reason: string, data: Record<string, unknown>) =>
    store.audit.append({ actor: 'sip', action: 'sip.register', subject, decision, reason, data: { source: args.source, callId: args.callId, ...data } });
  if (!args.token) {
    await audit('deny', 'REGISTER carried no registration token', { code: 'token_missing' });
    throw new AppError('token_missing', 'A registration token is required to register.');
  }
  try {
    const now = deps.clock();
    const claims = await checkAppRegistrationToken(args.token, { keyRing: deps.keyRing, issuer: config.tokens.issuer, audience: config.sip.domain, now });
    if (claims.sub !== args.aorDeviceId) throw new AppError('token_misbound', 'Registration token refused: it was issued to another device.');
    const device = await store.devices.get(claims.sub);
    if (device?.revokedAt) throw new AppError('device_revoked', 'Registration refused: this device has been revoked.');
    verifyDeviceProof({
      proof: args.deviceProof,
      jti: claims.jti,
      callId: args.callId,
      fromTag: args.fromTag,
      expectedThumbprint: claims.cnf.jkt,
      device,
      register: { contact: args.contact },
    });
    const spent = await store.devices.consumeSipRegistrationToken(claims.jti, claims.sub, args.callId, now);
    if (spent === 'replayed') throw new AppError('token_replayed', 'Registration token refused: it has already been used.');
    if (spent === 'expired') throw new AppError('token_expired', 'Registration token refused: it has expired.');
    if (spent !== 'consumed') throw new AppError('token_invalid', 'Registration token refused: it was not issued by this service.');
    return device!;
  } catch (e) {
    if (isAppError(e)) await audit('deny', e.message, { code: e.code, token: describeTokenForLog(args.token) });
    throw e;
  }
}

// Wakes callbacks waiting for a device of this customer to register (per store, i.e. per service).
const wakers = new WeakMap<object, EventEmitter>();
function wakerFor(deps: Pick<FlowDeps, 'store'>): EventEmitter {
  let w = wakers.get(deps.store);
  if (!w) {
    w = new EventEmitter();
    w.setMaxListeners(0);
    wakers.set(deps.store, w);
  }
  return w;
}

export async function appRegistered(
  deps: FlowDeps,
  device: Device,
  binding: { contact: string; source: string; expiresSeconds: number; userAgent: string | null },
): Promise<Date> {
  const expiresAt = new Date(deps.clock().getTime() + binding.expiresSeconds * 1000);
  await deps.store.devices.setSipRegistration(device.id, { contact: binding.contact, source: binding.source, expiresAt });
  await deps.store.audit.append({
    actor: 'sip',
    action: 'sip.register',
    subject: `device:${device.id}`,
    decision: 'allow',
    reason: `registration token and device proof verified; registered for ${binding.expiresSeconds} s`,
    data: { source: binding.source, contact: binding.contact, userAgent: binding.userAgent },
  });
  wakerFor(deps).emit(device.customerId);
  return expiresAt;
}

export async function appUnregistered(deps: FlowDeps, device: Device, source: string): Promise<void> {
  await deps.store.devices.setSipRegistration(device.id, null);
  await deps.store.audit.append({ actor: 'sip', action: 'sip.register', subject: `device:${device.id}`, decision: 'allow', reason: 'de-registered', data: { source } });
}

/** The customer's devices that can be rung now, newest binding first. */
export function liveAppRegistrations(deps: FlowDeps, customerId: string): Promise<AppSipBinding[]> {
  return deps.store.devices.sipRegistrations(customerId, deps.clock());
}

/**
 * Resolves with the live bindings as soon as one exists, or [] after `ms` or when `cancelled`
 * says so. Woken at once by a REGISTER on this instance; the store is re-read every second too,
 * for a REGISTER answered by another instance.
 */
export async function waitForAppRegistration(
  deps: FlowDeps,
  customerId: string,
  ms: number,
  onCancel: (cancel: () => void) => void,
): Promise<AppSipBinding[]> {
  const deadline = Date.now() + ms;
  const waker = wakerFor(deps);
  let cancelled = false;
  let wake: () => void = () => undefined;
  onCancel(() => {
    cancelled = true;
    wake();
  });
  while (!cancelled) {
    const live = await liveAppRegistrations(deps, customerId);
    if (live.length > 0) return live;
    const left = deadline - Date.now();
    if (left <= 0) return [];
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(left, 1000));
      function done() {
        clearTimeout(t);
        waker.off(customerId, done);
        resolve();
      }
      wake = done;
      waker.on(customerId, done);
    });
  }
  return [];
}

/** Housekeeping: bindings past their expiry are no longer used. */
export function expireAppRegistrations(deps: FlowDeps): Promise<number> {
  return deps.store.devices.purgeExpiredSipRegistrations(deps.clock());
}
