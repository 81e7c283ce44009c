/**
 * Failed SIP authentications (desk phone digest, the app's Bearer REGISTER), limited in the
 * database (store.attemptLimits, counted by every instance) and held *before* the check:
 *
 *   - per source address and user (extension, or the app's device id):
 *     `sip.registrar.failedAuthPerMinute` — the one phone with a wrong password is stopped;
 *   - per source address: `sip.registrar.failedAuthPerMinutePerAddress`, higher — an office
 *     behind one NAT address keeps registering its other phones while one is refused, but an
 *     address spraying user names is stopped too.
 *
 * Each check takes a place in both limits atomically before the credentials are checked, so a
 * burst in parallel cannot pass the limit; only a failed check keeps its places (counted), a
 * passed one gives them back, and a refusal takes none. A check refused while the places are
 * held by checks still in flight waits briefly for one (a phone with the right password is not
 * refused because others are being checked); it is refused only when failures fill the limit.
 */
import type { FlowDeps } from '../flows/ports.js';
import type { AttemptLimit } from '../store/store.js';

export type SipAttempt =
  | { allowed: true; passed(): Promise<void>; failed(): Promise<void> }
  /** `scope` says which limit refused; firstRefusal: the one refusal per key and minute to audit. */
  | { allowed: false; scope: 'user' | 'address'; retryAfterSeconds: number; firstRefusal: boolean };

export interface SipAttemptLimits {
  reserve(address: string, user: string): Promise<SipAttempt>;
}

/** How long a check waits for a place held by checks in flight before it is refused anyway. */
const MAX_WAIT_MS = 3000;

type Begun = { allowed: true } | { allowed: false; retryAfterSeconds: number; firstRefusal: boolean };

async function begin(limit: AttemptLimit, key: string): Promise<Begun> {
  const until = Date.now() + MAX_WAIT_MS;
  for (;;) {
    const r = await limit.beginCheck(key);
    if (r.allowed) return r;
    if (r.full === 'failures') return r;
    if (Date.now() > until) return { allowed: false, retryAfterSeconds: 1, firstRefusal: false };
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 40));
  }
}

export function sipAttemptLimits(deps: Pick<FlowDeps, 'store' | 'config'>, name: 'sip-digest' | 'sip-app'): SipAttemptLimits {
  const cfg = deps.config.sip.registrar;
  const perUser: AttemptLimit = deps.store.attemptLimits.limit(`${name}-user`, cfg.failedAuthPerMinute, 60);
  const perAddress: AttemptLimit = deps.store.attemptLimits.limit(`${name}-address`, cfg.failedAuthPerMinutePerAddress, 60);
  return {
    async reserve(address, user) {
      // Keys fit the limiter's column whatever the phone sends as a user name.
      const userKey = `${address}|${user.slice(0, 100)}`;
      const u = await begin(perUser, userKey);
      if (!u.allowed) return { allowed: false, scope: 'user', retryAfterSeconds: u.retryAfterSeconds, firstRefusal: u.firstRefusal };
      const a = await begin(perAddress, address);
      if (!a.allowed) {
        // Not checked, so not a failure of this user's.
        await perUser.endCheck(userKey, 'passed');
        return { allowed: false, scope: 'address', retryAfterSeconds: a.retryAfterSeconds, firstRefusal: a.firstRefusal };
      }
      return {
        allowed: true,
        passed: async () => {
          await Promise.all([perUser.endCheck(userKey, 'passed'), perAddress.endCheck(address, 'passed')]);
        },
        failed: async () => {
          await Promise.all([perUser.endCheck(userKey, 'failed'), perAddress.endCheck(address, 'failed')]);
        },
      };
    },
  };
}
