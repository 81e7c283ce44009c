/**
 * RFC 4028 session timers: what this server asks for and answers with.
 *
 * drachtio-server runs the timers themselves once a dialog's 2xx carries Session-Expires: when it
 * is the refresher it sends the refreshing re-INVITE (with the dialog's current SDP) halfway
 * through; when the peer is the refresher and no refresh comes before expiry, it sends BYE with
 * `Reason: SIP;cause=200;text="Session timer expired"` and hands that BYE to this application
 * as if the peer had sent it, so the call's usual hang-up path ends the other leg and the record.
 * It also answers a refresh whose interval is below 90 s with 422 itself. What it does not do,
 * and this file does:
 *   - 422 + Min-SE for a new INVITE whose Session-Expires is below `sip.sessionTimer.minSeconds`
 *     (§6; checked before the token is spent, so the app can retry with the same token);
 *   - Supported/Require: timer and Session-Expires with a refresher in our 2xx (§9), and in the
 *     INVITEs we send to phones (§7.1), with the configured interval.
 * drachtio-server never runs a UAS timer shorter than 90 s, which is also RFC 4028's floor.
 */
import type { Config } from '../config/config.js';
import { sendResponse, type SipRequest, type SipResponse } from './sip-message.js';

export type SessionTimerConfig = Config['sip']['sessionTimer'];

export interface SessionExpires {
  seconds: number;
  refresher: 'uac' | 'uas' | null;
}

/** Parses `Session-Expires: 1800;refresher=uac` (or its compact form `x`). */
export function parseSessionExpires(value: string | undefined | null): SessionExpires | null {
  const m = /^\s*(\d+)\s*(?:;(.*))?$/.exec(value ?? '');
  if (!m) return null;
  const r = /(?:^|;)\s*refresher\s*=\s*(uac|uas)\b/i.exec(m[2] ?? '');
  return { seconds: Number(m[1]), refresher: r ? (r[1]!.toLowerCase() as 'uac' | 'uas') : null };
}

function header(req: SipRequest, long: string, compact: string): string | undefined {
  if (req.has(long)) return req.get(long);
  if (req.has(compact)) return req.get(compact);
  return undefined;
}

function supportsTimer(req: SipRequest): boolean {
  const supported = [header(req, 'Supported', 'k'), header(req, 'Require', 'Require')].filter(Boolean).join(',');
  return /(^|,)\s*timer\s*(,|$)/i.test(supported);
}

/**
 * For a new INVITE: the Min-SE to answer 422 with when its Session-Expires is too small (§6),
 * or null when it is acceptable (or absent).
 */
export function sessionIntervalTooSmall(req: SipRequest, cfg: SessionTimerConfig): number | null {
  const se = parseSessionExpires(header(req, 'Session-Expires', 'x'));
  if (!se) return null;
  return se.seconds < cfg.minSeconds ? cfg.minSeconds : null;
}

/** Answers 422 Session Interval Too Small with the Min-SE this server accepts. */
export function refuseSessionInterval(res: SipResponse, minSeconds: number): void {
  sendResponse(res, 422, 'Session Interval Too Small', { 'Min-SE': String(minSeconds) });
}

/**
 * Headers for our 2xx to a new INVITE (§9): the caller's interval when it asked for one (never
 * more than ours, never less than either side's minimum), else ours; the caller's refresher
 * choice, else the caller; a caller whose Supported/Require lacks `timer` cannot refresh, so
 * this server does (refresher=uas), whatever it asked.
 */
export function sessionTimerAnswerHeaders(req: SipRequest, cfg: SessionTimerConfig): Record<string, string> {
  const asked = parseSessionExpires(header(req, 'Session-Expires', 'x'));
  const theirMin = Number(header(req, 'Min-SE', 'Min-SE') ?? '0') || 0;
  const floor = Math.max(cfg.minSeconds, theirMin);
  const seconds = Math.max(floor, Math.min(asked?.seconds ?? cfg.expiresSeconds, cfg.expiresSeconds));
  const timer = supportsTimer(req);
  // §9: a caller that does not support timers cannot refresh, whatever its Session-Expires said.
  const refresher = timer ? (asked?.refresher ?? 'uac') : 'uas';
  const headers: Record<string, string> = { Supported: 'timer', 'Session-Expires': `${seconds};refresher=${refresher}` };
  // §9: Require: timer tells a caller that supports timers it must refresh (or knows we will).
  if (timer) headers.Require = 'timer';
  return headers;
}

/** Headers for an INVITE this server sends (§7.1); the phone picks the refresher in its 2xx. */
export function sessionTimerOfferHeaders(cfg: SessionTimerConfig): Record<string, string> {
  return { Supported: 'timer', 'Session-Expires': String(cfg.expiresSeconds), 'Min-SE': String(cfg.minSeconds) };
}

/** True when drachtio-server ended the dialog because the peer did not refresh it in time. */
export function endedBySessionExpiry(req: unknown, reason: unknown): boolean {
  if (typeof reason === 'string' && /session timer expired/i.test(reason)) return true;
  const r = req as { meta?: { source?: string }; has?(h: string): boolean; get?(h: string): string } | undefined;
  return !!r?.has?.('Reason') && r.meta?.source === 'application' && /session timer expired/i.test(r.get?.('Reason') ?? '');
}

/** Headers for our 2xx to a re-INVITE or UPDATE that refreshes the session (§9, §10). */
export function sessionRefreshAnswerHeaders(req: SipRequest): Record<string, string> {
  const se = parseSessionExpires(header(req, 'Session-Expires', 'x'));
  if (!se) return {};
  const timer = supportsTimer(req);
  // As for a new INVITE (§9): a refresher that does not support timers leaves the refreshing to us.
  const refresher = timer ? (se.refresher ?? 'uac') : 'uas';
  const headers: Record<string, string> = { 'Session-Expires': `${se.seconds};refresher=${refresher}` };
  if (timer) headers.Require = 'timer';
  return headers;
}
