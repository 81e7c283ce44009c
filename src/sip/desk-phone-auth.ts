/**
 * Who is this desk phone? Digest authentication (RFC 3261 §22, RFC 7616/8760) of REGISTER and of
 * INVITEs and SUBSCRIBEs from desk phones, against the agents' stored HA1. The SIP user is the agent's
 * extension and the realm is the SIP domain.
 *
 * Order of answers, so nobody learns which extensions exist: a request without credentials gets
 * 401 whatever the user; credentials for an unknown user or with a wrong password get 403. Every
 * attempt with credentials is counted before they are checked (sip-attempt-limits.ts: per source
 * address and user, and per address with a higher cap) and given back when it succeeds; over a
 * limit the request gets 403 Too Many Failed Attempts without any check. Every refusal is audited
 * and logged (never the Authorization header itself); refusals by the limit are audited once per
 * key and minute, so a flood cannot fill the audit log.
 */
import type { Logger } from 'pino';
import type { Agent } from '../domain/model.js';
import type { FlowDeps } from '../flows/ports.js';
import { parseDigestParams, type DigestAlgorithm, type DigestAuth, type DigestOutcome } from './digest-auth.js';
import type { SipAttemptLimits } from './sip-attempt-limits.js';
import { sendResponse, sourceOf, type SipRequest, type SipResponse } from './sip-message.js';

export interface DeskPhoneAuthenticator {
  /**
   * Resolves with the authenticated agent, or null after it has answered the request itself
   * (401 challenge, 403, 400). `claimedUser` is the user the request speaks for (To of a
   * REGISTER, From of an INVITE or SUBSCRIBE); credentials for another user are refused.
   */
  authenticate(req: SipRequest, res: SipResponse, opts: { action: 'register' | 'invite' | 'subscribe'; claimedUser: string | null }): Promise<Agent | null>;
}

export function createDeskPhoneAuthenticator(args: {
  deps: Pick<FlowDeps, 'store' | 'clock'>;
  digest: DigestAuth;
  limits: SipAttemptLimits;
  logger: Logger;
  /** Digest algorithms offered to an extension (sip.registrar.digestAlgorithmsByExtension). */
  algorithmsFor?: (extension: string) => readonly DigestAlgorithm[];
}): DeskPhoneAuthenticator {
  const { deps, digest, limits, algorithmsFor } = args;
  const log = args.logger.child({ component: 'sip-auth' });

  /** An HA1 lookup that keeps the agent it read, so a verified request needs no second read. */
  const ha1Lookup = (found: { agent: Agent | null }) => async (username: string, algorithm: 'MD5' | 'SHA-256') => {
    const agent = await deps.store.agents.getByExtension(username);
    if (!agent) return null;
    const secrets = await deps.store.agents.secrets(agent.id);
    if (!secrets) return null;
    if (secrets.sipRealm !== digest.realm) {
      // HA1 is bound to the realm: after a change of sip.domain the agent needs a new password.
      log.warn({ extension: username, storedRealm: secrets.sipRealm, realm: digest.realm }, 'SIP credential was made for another realm; reset the agent password');
      return null;
    }
    found.agent = agent;
    return algorithm === 'MD5' ? secrets.sipHa1 : secrets.sipHa1Sha256;
  };

  const deny = async (
    req: SipRequest,
    res: SipResponse,
    action: string,
    status: number,
    reason: string,
    detail: { username: string | null; why: string },
  ) => {
    const source = sourceOf(req);
    log.warn({ action, source, username: detail.username, status, why: detail.why }, 'desk phone authentication refused');
    // Recorded before it is announced: once the phone has its answer, the audit log has it too.
    await deps.store.audit.append({
      actor: 'sip',
      action: `sip.${action}.auth`,
      subject: detail.username ? `extension:${detail.username}` : null,
      decision: 'deny',
      reason: detail.why,
      data: { source, status, userAgent: req.get('User-Agent') ?? null },
    });
    sendResponse(res, status, reason);
  };

  return {
    async authenticate(req, res, { action, claimedUser }) {
      const headers = req.has('Authorization') ? [req.get('Authorization')] : [];
      // Only a request that presents credentials can fail: reserve its attempt before checking.
      const digestParams = headers.map((h) => parseDigestParams(h)).find((p) => p !== null);
      let attempt: { passed(): Promise<void>; failed(): Promise<void> } | null = null;
      if (digestParams) {
        const presented = digestParams.username ?? '';
        let reserved;
        try {
          reserved = await limits.reserve(req.source_address, presented);
        } catch (e) {
          log.error({ err: e instanceof Error ? e.message : String(e) }, 'desk phone attempt could not be counted');
          sendResponse(res, 503, 'Service Unavailable', { 'Retry-After': '5' });
          return null;
        }
        if (!reserved.allowed) {
          sendResponse(res, 403, 'Too Many Failed Attempts', { 'Retry-After': String(reserved.retryAfterSeconds) });
          log.warn({ action, source: sourceOf(req), username: presented, limit: reserved.scope }, 'desk phone refused unchecked: too many failed authentications');
          if (reserved.firstRefusal) {
            await deps.store.audit.append({
              actor: 'sip',
              action: `sip.${action}.auth`,
              subject: reserved.scope === 'user' ? `extension:${presented}` : `source:${req.source_address}`,
              decision: 'deny',
              reason:
                reserved.scope === 'user'
                  ? 'too many failed authentications for this extension from this address; refused unchecked for the rest of the minute'
                  : 'too many failed authentications from this address; refused unchecked for the rest of the minute',
              data: { source: sourceOf(req), status: 403, retryAfterSeconds: reserved.retryAfterSeconds },
            });
          }
          return null;
        }
        attempt = reserved;
      }
      // A check that was not a failure gives its places back; a failure keeps them (counted).
      const giveBack = async () => {
        await attempt?.passed().catch((e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'desk phone attempt could not be given back'));
      };
      const countFailure = async () => {
        await attempt?.failed().catch((e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'desk phone failure could not be counted'));
      };
      const found: { agent: Agent | null } = { agent: null };
      let outcome: DigestOutcome;
      try {
        outcome = await digest.verify({ authorization: headers, method: req.method, requestUri: req.uri, lookupHa1: ha1Lookup(found), ...(algorithmsFor ? { algorithmsFor } : {}) });
      } catch (e) {
        await giveBack();
        log.error({ err: e instanceof Error ? e.message : String(e) }, 'desk phone authentication failed unexpectedly');
        sendResponse(res, 500, 'Server Internal Error', { 'Retry-After': '5' });
        return null;
      }
      switch (outcome.kind) {
        case 'missing':
        case 'stale':
          // Not a failure: the phone is asked again (for another realm, or with a fresh nonce).
          await giveBack();
          sendResponse(res, 401, 'Unauthorized', {
            'WWW-Authenticate': digest.challenge({ stale: outcome.kind === 'stale', ...(algorithmsFor && claimedUser ? { algorithms: algorithmsFor(claimedUser) } : {}) }),
          });
          return null;
        case 'malformed':
          await countFailure();
          await deny(req, res, action, 400, 'Bad Authorization Header', { username: outcome.username, why: `malformed credentials: ${outcome.reason}` });
          return null;
        case 'unknown_user':
          await countFailure();
          await deny(req, res, action, 403, 'Forbidden', { username: outcome.username, why: 'unknown user' });
          return null;
        case 'wrong_password':
          await countFailure();
          await deny(req, res, action, 403, 'Forbidden', { username: outcome.username, why: 'wrong password' });
          return null;
        case 'ok':
          // The right password: this attempt does not count, whatever is refused next.
          await giveBack();
          break;
      }
      if (claimedUser !== null && claimedUser !== outcome.username) {
        await deny(req, res, action, 403, 'Forbidden', {
          username: outcome.username,
          why: `authenticated as ${outcome.username} but speaking for ${claimedUser}`,
        });
        return null;
      }
      // 'ok' means the lookup found this agent's HA1: found.agent is set (checked for the types).
      const agent = found.agent;
      if (!agent) {
        await deny(req, res, action, 403, 'Forbidden', { username: outcome.username, why: 'unknown user' });
        return null;
      }
      return agent;
    },
  };
}
