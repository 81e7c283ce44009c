/**
 * The attempt limits of the API, kept in the database so they hold across parallel requests and
 * instances (store.attemptLimits). A guarded check first holds a place under the limit; only a
 * failed check keeps it. An answer is refused with rate_limited (HTTP 429 + Retry-After), without
 * being checked, only when counted failures fill the limit: while places are held by answers
 * still being checked it waits for one, since those give their place back as soon as they pass.
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
  /** The answer when failures fill the limit. */
  message: string;
}

/** A waiting answer gives up when no place has come free for this long… */
const MAX_IDLE_WAIT_MS = 3_000;
/** …or after this long in all (places keep coming free, but others keep taking them first). */
const MAX_WAIT_MS = 10_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Holds a place for one check, waiting while the places are held by checks in flight; throws
 * rate_limited (details.retryAfterSeconds) when failures fill the limit. The caller ends the
 * check with limit.endCheck(key, …), whatever happens to it.
 */
export async function reserveAttempt(deps: Pick<FlowDeps, 'store'>, attempt: GuardedAttempt): Promise<void> {
  const started = Date.now();
  let moved = started;
  let last = '';
  for (;;) {
    const r = await attempt.limit.beginCheck(attempt.key);
    if (r.allowed) return;
    if (r.full === 'failures') {
      if (r.firstRefusal) {
        await deps.store.audit.append({ ...attempt.audit, decision: 'deny', data: { retryAfterSeconds: r.retryAfterSeconds } });
      }
      throw new AppError('rate_limited', attempt.message, { retryAfterSeconds: r.retryAfterSeconds });
    }
    const now = Date.now();
    // Places turn over when a check ends or a new one begins in a place that came free.
    const state = `${r.failures}/${r.inFlight}/${r.lastBegun}`;
    if (state !== last) [last, moved] = [state, now];
    if (now - moved > MAX_IDLE_WAIT_MS || now - started > MAX_WAIT_MS) {
      // True to what happened: nothing failed enough, the other answers are just slow.
      throw new AppError('rate_limited', 'Other attempts are still being checked; try again in a moment.', { retryAfterSeconds: 1 });
    }
    await pause(20 + Math.random() * 40);
  }
}
