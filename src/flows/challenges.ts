/**
 * Fresh single-use challenges a device must answer (accept a call, enrol a passkey). 32 random
 * bytes, bound to the device (and call request), short-lived; the store consumes them atomically.
 */
import { randomBytes } from 'node:crypto';
import type { Challenge } from '../domain/model.js';
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
