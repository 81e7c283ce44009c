/**
 * Revoking a lost or stolen phone, or a leaked API key: for good, at once, audited. A revoked
 * device's credential is refused on every call (authenticate, tokens, push, SIP registration),
 * tokens it was already given are refused at call setup (`device_revoked`), and it is never
 * notified or rung again. A revoked API key is refused on its next request.
 */
import { AppError } from '../domain/errors.js';
import type { ApiKey, Device } from '../domain/model.js';
import type { FlowDeps } from './ports.js';

export interface RevokeDeviceBy {
  /** Who revokes: `device:<id>` (the customer in the app), `agent:<id>`, `apikey:<name>`, `cli`. */
  actor: string;
  /** Set when the customer revokes: only their own devices are found. */
  customerId?: string;
  reason: string;
}

/** Revokes the device (already revoked: nothing changes). Unknown, or another customer's: not_found. */
export async function revokeDevice(deps: Pick<FlowDeps, 'store' | 'clock'>, deviceId: string, by: RevokeDeviceBy): Promise<Device> {
  const device = await deps.store.devices.get(deviceId);
  if (!device || (by.customerId !== undefined && device.customerId !== by.customerId)) throw new AppError('not_found', `No device ${deviceId}.`);
  const now = deps.clock();
  const revoked = await deps.store.devices.revoke(device.id, now);
  await deps.store.audit.append({
    actor: by.actor,
    action: 'device.revoke',
    subject: `device:${device.id}`,
    decision: revoked ? 'allow' : 'info',
    reason: revoked ? by.reason : 'device was already revoked',
    data: { customerId: device.customerId, label: device.label },
  });
  return { ...device, revokedAt: device.revokedAt ?? now, pushSubscription: null, sipContact: null };
}

/** Revokes an active API key named by its id or its name. */
export async function revokeApiKey(deps: Pick<FlowDeps, 'store' | 'clock'>, idOrName: string, actor: string): Promise<ApiKey> {
  const key = (await deps.store.apiKeys.list()).find((k) => !k.revokedAt && (k.id === idOrName || k.name === idOrName));
  if (!key) throw new AppError('not_found', `No active API key ${idOrName}.`);
  const now = deps.clock();
  const revoked = await deps.store.apiKeys.revoke(key.id, now);
  await deps.store.audit.append({
    actor,
    action: 'apikey.revoke',
    subject: `apikey:${key.name}`,
    decision: revoked ? 'allow' : 'info',
    reason: revoked ? 'API key revoked' : 'API key was already revoked',
    data: { id: key.id },
  });
  return { ...key, revokedAt: now };
}
