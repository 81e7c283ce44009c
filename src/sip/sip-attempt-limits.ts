/**
 * Failed SIP authentications (desk phone digest, the app's Bearer REGISTER), limited in the
 * database (store.attemptLimits, counted by every instance) and counted *before* the check:
 *
 *   - per source address and user (extension, or the app's device id):
 *     `sip.registrar.failedAuthPerMinute` — the one phone with a wrong password is stopped;
 *   - per source address: `sip.registrar.failedAuthPerMinutePerAddress`, higher — an office
 *     behind one NAT address keeps registering its other phones while one is refused, but an
 *     address spraying user names is stopped too.
 *
 * Each attempt is reserved atomically in both before the credentials are checked, so a burst in
 * parallel cannot pass the limit; a success (or a check that never happened) gives it back.
 */
import type { FlowDeps } from '../flows/ports.js';
import type { AttemptLimit } from '../store/store.js';

export type SipAttempt =
  | { allowed: true; giveBack(): Promise<void> }
  /** `scope` says which limit refused; firstRefusal: the one refusal per key and minute to audit. */
  | { allowed: false; scope: 'user' | 'address'; retryAfterSeconds: number; firstRefusal: boolean };

export interface SipAttemptLimits {
  reserve(address: string, user: string): Promise<SipAttempt>;
}

export function sipAttemptLimits(deps: Pick<FlowDeps, 'store' | 'config'>, name: 'sip-digest' | 'sip-app'): SipAttemptLimits {
  const cfg = deps.config.sip.registrar;
  const perUser: AttemptLimit = deps.store.attemptLimits.limit(`${name}-user`, cfg.failedAuthPerMinute, 60);
  const perAddress: AttemptLimit = deps.store.attemptLimits.limit(`${name}-address`, cfg.failedAuthPerMinutePerAddress, 60);
  return {
    async reserve(address, user) {
      // Keys fit the limiter's column whatever the phone sends as a user name.
      const userKey = `${address}|${user.slice(0, 100)}`;
      const u = await perUser.reserve(userKey);
      if (!u.allowed) return { allowed: false, scope: 'user', retryAfterSeconds: u.retryAfterSeconds, firstRefusal: u.firstRefusal };
      const a = await perAddress.reserve(address);
      if (!a.allowed) {
        // Not checked, so not a failure of this user's.
        await perUser.giveBack(userKey);
        return { allowed: false, scope: 'address', retryAfterSeconds: a.retryAfterSeconds, firstRefusal: a.firstRefusal };
      }
      return {
        allowed: true,
        giveBack: async () => {
          await Promise.all([perUser.giveBack(userKey), perAddress.giveBack(address)]);
        },
      };
    },
  };
}
