/**
 * The attempt limits of the API, kept in the database so they hold across parallel requests and
 * instances (store.attemptLimits). A guarded check first reserves an attempt; over the limit it
 * is refused with rate_limited (HTTP 429 + Retry-After) without being checked at all.
 */
import { AppError } from '../domain/errors.js';
import type { AttemptLimit } from '../store/store.js';
import type { FlowDeps } from './ports.js';

/** Wrong passwords per agent username per minute (auth.loginAttemptsPerMinute). */
export function loginLimit(deps: Pick<FlowDeps, 'store' | 'config'>): AttemptLimit {
  return deps.store.attemptLimits.limit('login', deps.config.auth.loginAttemptsPerMinute, 60);
}

/** Wrong enrollment codes per source address per hour (auth.enrollmentAttemptsPerHour). */
export function enrollmentLimit(deps: Pick<FlowDeps, 'store' | 'config'>): AttemptLimit {
  return deps.store.attemptLimits.limit('enroll', deps.config.auth.enrollmentAttemptsPerHour, 3600);
}

export interface GuardedAttempt {
  limit: AttemptLimit;
  key: string;
  /** The audit entry of the refusal: written once per key and window, not per refused attempt. */
  audit: { actor: string; action: string; subject: string | null; reason: string };
  message: string;
}

/** Reserves one attempt or throws rate_limited (details.retryAfterSeconds). */
export async function reserveAttempt(deps: Pick<FlowDeps, 'store'>, attempt: GuardedAttempt): Promise<void> {
  const r = await attempt.limit.reserve(attempt.key);
  if (r.allowed) return;
  if (r.firstRefusal) {
    await deps.store.audit.append({ ...attempt.audit, decision: 'deny', data: { retryAfterSeconds: r.retryAfterSeconds } });
  }
  throw new AppError('rate_limited', attempt.message, { retryAfterSeconds: r.retryAfterSeconds });
}
