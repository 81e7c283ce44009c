/**
 * The customer app's REGISTER (RFC 3261 §10.3, over WebSocket per RFC 7118, or UDP/TCP in
 * tests), next to the desk phones' digest registrar:
 *
 *   app ── REGISTER sip:<domain>  To: <sip:<device id>@<domain>>
 *            Authorization: Bearer <registration token> (RFC 8898 §3)
 *            Knock-Device-Proof: <device-key signature over
 *                                 knock-register-proof.v1|jti|Call-ID|From tag|Contact URI> ──► here
 *     no token            ◄── 401, WWW-Authenticate: Bearer realm="<domain>"
 *     refused             ◄── 403 + Warning/Reason with the code (invalid, expired, replayed,
 *                             misbound: other device, call token, no or bad proof)
 *     too many refusals   ◄── 403 Too Many Failed Attempts, without checking anything, for the
 *                             rest of the minute (sip-attempt-limits.ts: per source address and
 *                             device, and per address; each attempt counted before the token is
 *                             checked, given back when it is accepted; audited once per key and
 *                             minute, not per request)
 *     WebSocket Contact not `*.invalid` ◄── 400 + Warning (RFC 7118 §5)
 *     accepted            ◄── 200 OK, Contact;expires=N; the binding is kept on the device
 *     Expires: 0          ◄── 200 OK; binding removed
 *
 * Every REGISTER needs a fresh token (a refresh too): a binding lives at most as long as the
 * app keeps proving it holds the device key. Over WebSocket the Contact's host is `*.invalid`:
 * drachtio-server remembers the connection a REGISTER came on for the Contact it answered 200
 * (its "tport for subscription" cache), so an INVITE to that Contact URI goes back over the same
 * WebSocket; the source (ws/address:port) is kept to tell such bindings from UDP/TCP ones. A
 * WebSocket Contact must name no reachable host (`.invalid`), or a registered app could make the
 * server send INVITEs anywhere; UDP/TCP bindings are always reached via the address the REGISTER
 * came from (location-service.ts), whatever their Contact says.
 *
 * The proof covers the Contact, so a token and proof copied off the wire cannot register another
 * Contact; the wire itself must still be TLS (wss:// in production), as for calls.
 */
import type { Logger } from 'pino';
import { isAppError } from '../domain/errors.js';
import { admitAppRegistration, appRegistered, appUnregistered } from '../flows/app-registration.js';
import type { FlowDeps } from '../flows/ports.js';
import { bearerToken, deviceProof, refuseInvite } from './bearer-credentials.js';
import { sipAttemptLimits } from './sip-attempt-limits.js';
import { addrSpec, fromTagOf, sendResponse, sourceOf, uriHost, uriUser, warning, type SipRequest, type SipResponse } from './sip-message.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for the app's REGISTER: a Bearer credential, or an AOR that is a device id (desk phone
 * extensions never are), so an app that forgot its token gets a Bearer challenge, not digest.
 */
export function isAppRegister(req: SipRequest): boolean {
  if (req.has('Authorization') && /^\s*Bearer\s/i.test(req.get('Authorization'))) return true;
  const user = req.has('To') ? uriUser(addrSpec(req.get('To'))) : null;
  return user !== null && UUID.test(user);
}

/**
 * Where the REGISTER came from, with the transport the app used: drachtio-srf reports a
 * WebSocket connection as "tcp", so the top Via's transport (WS/WSS, RFC 7118 §5) decides.
 */
export function appSourceOf(req: SipRequest): string {
  const via = /^\s*SIP\/2\.0\/([A-Za-z]+)/.exec(req.get('Via') ?? '')?.[1]?.toLowerCase();
  const source = sourceOf(req);
  return via === 'ws' || via === 'wss' ? source.replace(/^[a-z]+\//, `${via}/`) : source;
}

/**
 * Why this Contact cannot be registered from `source`, or null when it can. Over WebSocket the
 * Contact is the INVITE's address with no proxy, so its host must be one that resolves nowhere
 * (RFC 7118 §5: `*.invalid`, RFC 6761 §6.4); the connection is found by drachtio-server.
 */
export function appContactRefusal(contact: string, source: string): string | null {
  if (!/^sips?:/i.test(contact)) return 'the Contact is not a SIP URI';
  if (!/^wss?\//i.test(source)) return null;
  const host = uriHost(contact) ?? '';
  return host.endsWith('.invalid') ? null : 'over WebSocket the Contact host must end in .invalid (RFC 7118 section 5)';
}

function requestedExpires(req: SipRequest, defaultExpires: number): number | null {
  const contact = req.has('Contact') ? req.get('Contact') : '';
  const param = /;\s*expires\s*=\s*(\d+)/i.exec(contact.includes('>') ? contact.slice(contact.indexOf('>')) : '');
  if (param) return Number(param[1]);
  if (req.has('Expires')) {
    const v = req.get('Expires').trim();
    return /^\d+$/.test(v) ? Number(v) : null;
  }
  return defaultExpires;
}

export function createAppRegistrar(opts: { deps: FlowDeps; logger: Logger }): (req: SipRequest, res: SipResponse) => Promise<void> {
  const { deps } = opts;
  const cfg = deps.config.sip.registrar;
  const domain = deps.config.sip.domain;
  const log = opts.logger.child({ component: 'app-registrar' });
  // Refused REGISTERs counted before the token is checked: past a limit the source is refused
  // unchecked, so a flood costs neither token checks nor an audit row per request.
  const limits = sipAttemptLimits(deps, 'sip-app');

  return async function registerApp(req, res) {
    const aorDeviceId = uriUser(addrSpec(req.has('To') ? req.get('To') : '')) ?? '';
    const source = appSourceOf(req);
    const callId = req.get('Call-ID') ?? '';
    const contactHeader = req.has('Contact') ? req.get('Contact').trim() : '';
    if (contactHeader.includes(',') || contactHeader === '*') {
      // One app, one binding: a list or a wildcard is not something the app sends.
      sendResponse(res, 400, 'One Contact Per App Registration');
      return;
    }
    const contact = contactHeader ? addrSpec(contactHeader) : '';
    const contactProblem = contact ? appContactRefusal(contact, source) : null;
    if (contactProblem) {
      // Checked before the token: a Contact the server would not use does not spend it.
      sendResponse(res, 400, 'Bad Contact', { Warning: warning(domain, contactProblem) });
      log.info({ source, why: contactProblem }, 'app REGISTER refused: bad Contact');
      return;
    }
    const expires = requestedExpires(req, cfg.defaultExpires);
    if (expires === null) {
      sendResponse(res, 400, 'Bad Expires Header');
      return;
    }
    if (expires > 0 && expires < cfg.minExpires) {
      sendResponse(res, 423, 'Interval Too Brief', { 'Min-Expires': String(cfg.minExpires) });
      return;
    }

    const attempt = await limits.reserve(req.source_address, aorDeviceId);
    if (!attempt.allowed) {
      sendResponse(res, 403, 'Too Many Failed Attempts', {
        Warning: warning(domain, 'too_many_failures: too many refused registrations from this address; try again in a minute'),
        Reason: 'SIP;cause=403;text="too_many_failures"',
        'Retry-After': String(attempt.retryAfterSeconds),
      });
      log.warn({ source, limit: attempt.scope }, 'app REGISTER refused unchecked: too many refused registrations');
      if (attempt.firstRefusal) {
        await deps.store.audit.append({
          actor: 'sip',
          action: 'sip.register',
          subject: attempt.scope === 'user' ? `device:${aorDeviceId}` : `source:${req.source_address}`,
          decision: 'deny',
          reason: `too many refused app registrations ${attempt.scope === 'user' ? 'for this device from this address' : 'from this address'} in a minute; further REGISTERs are refused unchecked and not audited one by one for the rest of the minute`,
          data: { source, code: 'too_many_failures' },
        });
      }
      return;
    }
    let device;
    try {
      device = await admitAppRegistration(deps, {
        token: bearerToken(req),
        aorDeviceId,
        callId,
        fromTag: fromTagOf(req),
        deviceProof: deviceProof(req),
        contact,
        source,
      });
    } catch (e) {
      // Only a refused token counts; an error of ours does not.
      if (!isAppError(e) || e.code === 'unavailable') await attempt.passed();
      else await attempt.failed();
      if (!isAppError(e)) throw e;
      log.info({ code: e.code, source }, 'app REGISTER refused');
      // Same answers as a refused INVITE: 401 + Bearer challenge, or 403 naming the code.
      refuseInvite(res, e, domain);
      return;
    }

    await attempt.passed();
    if (!contactHeader) {
      // A query (RFC 3261 §10.2.3): the current binding, nothing changed.
      const current: Record<string, string> = device.sipContact ? { Contact: `<${device.sipContact}>` } : {};
      sendResponse(res, 200, 'OK', current);
      return;
    }
    if (expires === 0) {
      await appUnregistered(deps, device, source);
      sendResponse(res, 200, 'OK');
      log.info({ deviceId: device.id, source }, 'app de-registered');
      return;
    }
    const granted = Math.min(expires, cfg.maxExpires);
    await appRegistered(deps, device, {
      contact,
      source,
      expiresSeconds: granted,
      userAgent: req.has('User-Agent') ? req.get('User-Agent').slice(0, 200) : null,
    });
    sendResponse(res, 200, 'OK', { Contact: `<${contact}>;expires=${granted}`, Date: deps.clock().toUTCString() });
    log.info({ deviceId: device.id, source, expires: granted }, 'app registered for calls');
  };
}
