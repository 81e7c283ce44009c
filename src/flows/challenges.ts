/**
 * Fresh single-use challenges a device must answer (accept a call, enrol a passkey). 32 random
 * bytes, bound to the device (and call request), short-lived; the store consumes them atomically.
 */
import { randomBytes } from 'node:crypto';
import type { Challenge, Device } from '../domain/model.js';
import { verifyWebAuthnAssertion, webAuthnAuthenticationOptions } from '../security/webauthn.js';
import type { FlowDeps } from './ports.js';

type ChallengeFor = { deviceId: string; callRequestId: string | null; purpose: Challenge['purpose'] };

/** A fresh challenge, not yet stored (for a statement that stores it with something else). */
export function newChallenge(deps: Pick<FlowDeps, 'config' | 'clock'>, args: ChallengeFor): Omit<Challenge, 'usedAt'> {
  return {
    id: crypto.randomUUID(),
    deviceId: args.deviceId,
    callRequestId: args.callRequestId,
    purpose: args.purpose,
    value: randomBytes(32).toString('base64url'),
    expiresAt: new Date(deps.clock().getTime() + deps.config.auth.challengeLifetimeSeconds * 1000),
  };
}

export function issueChallenge(deps: Pick<FlowDeps, 'store' | 'config' | 'clock'>, args: ChallengeFor): Promise<Challenge> {
  return deps.store.challenges.create(newChallenge(deps, args));
}

/** The passkey assertion options for answering `challenge` with this device; null without a passkey. */
export async function passkeyOptionsFor(deps: Pick<FlowDeps, 'config'>, device: Device, challenge: string): Promise<unknown> {
  if (!device.webauthn) return null;
  return webAuthnAuthenticationOptions({
    config: deps.config.auth.webauthn,
    credential: device.webauthn,
    challenge,
    timeoutMs: deps.config.auth.challengeLifetimeSeconds * 1000,
  });
}

/**
 * Checks the device's passkey assertion over `challenge` and keeps the authenticator's signature
 * counter (its clone detection). The caller has checked that the device has a passkey.
 */
export async function verifyPasskeyAnswer(
  deps: Pick<FlowDeps, 'config' | 'store'>,
  device: Device & { webauthn: NonNullable<Device['webauthn']> },
  response: unknown,
  challenge: string,
): Promise<void> {
  const { newCounter } = await verifyWebAuthnAssertion({
    credential: device.webauthn,
    response: response as Parameters<typeof verifyWebAuthnAssertion>[0]['response'],
    expectedChallenge: challenge,
    rpId: deps.config.auth.webauthn.rpId,
    origins: deps.config.auth.webauthn.origins,
  });
  await deps.store.devices.updateWebAuthnCounter(device.id, newCounter);
}
