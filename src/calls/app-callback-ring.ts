/**
 * Ringing the customer's app for an agent-dialled callback, and how the app answers it.
 *
 *   server ── INVITE (no SDP; X-Knock-Reference, X-Knock-Agent, X-Knock-Request) ──► app
 *   app    ── 180 Ringing; shows the incoming call; the customer taps Answer, passes the
 *             biometric or PIN (the API's accept/authenticate for X-Knock-Request)
 *   app    ── INVITE sip:<customer call URI> + Replaces: <ringing Call-ID>;from-tag=…;to-tag=…
 *             (RFC 3891) + Authorization: Bearer <token> + Knock-Device-Proof ──► server
 *   server ── CANCEL of the ringing INVITE; the answering INVITE is verified and anchored like
 *             any call the app places (outbound-callback.ts)
 *
 * Why the app answers with a new INVITE rather than a 200 OK: the app's WebRTC media must be
 * anchored in FreeSWITCH with a DTLS-SRTP handshake. FreeSWITCH answers an INVITE without SDP
 * (drachtio-fsmrf's offering leg) before its dialplan runs, so it cannot be told to make a
 * WebRTC offer for the browser; answering the browser's own offer is the path that works
 * (anchorCaller, drachtio-fsmrf connectCaller). RFC 3891 §3 lets a UA accept a Replaces for an
 * early dialog it initiated itself, which is exactly the ringing INVITE; and the answer carries
 * the token and proof the same way as every call the app places, checked by the same flow.
 */
import type Srf from 'drachtio-srf';
import type { Outcome } from '../domain/call-request.js';
import type { AppSipBinding } from '../store/store.js';
import type { Abort, CallContext } from './customer-call-state.js';
import { routeToBinding } from '../sip/location-service.js';
import { fromTagOf, parseReplaces, sendResponse, type ReplacesTarget, type SipRequest, type SipResponse } from '../sip/sip-message.js';

/** The app's answer: its INVITE (not yet answered) that replaces the ringing one. */
export interface AppAnswer {
  req: SipRequest;
  res: SipResponse;
}

export type AppRingResult = { kind: 'answered'; answer: AppAnswer; deviceId: string } | { kind: 'failed'; outcome: Outcome; why: string };

interface WaitingRing {
  deviceId: string;
  fromTag: string;
  answer(a: AppAnswer): void;
}

// Ringing INVITEs of this instance by Call-ID, per call context (one per running service).
const waitingByContext = new WeakMap<CallContext, Map<string, WaitingRing>>();
function waitingFor(ctx: CallContext): Map<string, WaitingRing> {
  let m = waitingByContext.get(ctx);
  if (!m) {
    m = new Map();
    waitingByContext.set(ctx, m);
  }
  return m;
}

/** RFC 3891 §6.1: `Replaces: call-id;to-tag=…;from-tag=…`; null when absent or malformed. */
function replacesOf(req: SipRequest): ReplacesTarget | null {
  return req.has('Replaces') ? parseReplaces(req.get('Replaces')) : null;
}

/**
 * For the customer call handler: an INVITE with Replaces naming one of this instance's ringing
 * callback INVITEs is the app answering it. Returns true when the INVITE was taken (handed to the
 * waiting callback, or refused with 481 because nothing rings under that Call-ID any more).
 */
export function takeAppAnswer(ctx: CallContext, req: SipRequest, res: SipResponse): boolean {
  const target = replacesOf(req);
  if (!target) return false;
  const waiting = waitingFor(ctx).get(target.callId);
  // Our tag is the From tag of the ringing INVITE; the app may name it either way round.
  if (!waiting || (target.fromTag !== waiting.fromTag && target.toTag !== waiting.fromTag)) {
    sendResponse(res, 481, 'Call/Transaction Does Not Exist');
    return true;
  }
  waitingFor(ctx).delete(target.callId);
  waiting.answer({ req, res });
  return true;
}

/**
 * Where to send the ringing INVITE. Over WebSocket (RFC 7118) the Contact (`*.invalid`) is sent
 * to as is: drachtio-server keeps the connection each successful REGISTER came on for its
 * Contact and sends there. UDP/TCP bindings go via the address the REGISTER came from
 * (location-service.ts), like desk phones.
 */
export function routeToApp(b: AppSipBinding): { uri: string; proxy: string | null } {
  if (!b.source || /^wss?\//.test(b.source)) return { uri: b.contact, proxy: null };
  return routeToBinding({ contact: b.contact, source: b.source } as Parameters<typeof routeToBinding>[0]);
}

interface SentInvite {
  stackTxnId?: string;
  cancel(opts?: { headers?: Record<string, string> }): void;
  get(name: string): string;
}

/**
 * Rings every live binding at once (over the connection each REGISTER came on) until one answers
 * with a Replaces INVITE, all refuse, `seconds` pass, or `abort` fires (the agent hung up). The
 * ringing INVITEs are cancelled in every case (once answered, with `Reason: SIP;cause=200;text="Call
 * completed elsewhere"`, RFC 3326). A 200 OK to the ringing INVITE itself is not an
 * answer (no verification): that dialog is hung up at once.
 */
export function ringApp(
  ctx: CallContext,
  bindings: AppSipBinding[],
  opts: { headers: Record<string, string>; seconds: number; abort: Abort; onSent?: (stackTxnId: string) => void },
): Promise<AppRingResult> {
  const waiting = waitingFor(ctx);
  const sent: SentInvite[] = [];
  const callIds: string[] = [];
  let settled = false;

  return new Promise<AppRingResult>((resolve) => {
    let pending = bindings.length;
    let worst: Outcome = 'failed';
    const finish = (r: AppRingResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      offAbort();
      for (const id of callIds) waiting.delete(id);
      // RFC 3326: the other devices stop ringing saying why, so the app can show "answered on
      // another device" rather than a missed call.
      const cancelOpts = r.kind === 'answered' ? { headers: { Reason: 'SIP;cause=200;text="Call completed elsewhere"' } } : {};
      for (const s of sent) {
        try {
          s.cancel(cancelOpts);
        } catch {
          // already final
        }
      }
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'failed', outcome: 'no_answer', why: 'the app did not answer in time' }), opts.seconds * 1000);
    // The agent hanging up is not the customer's doing: 'failed' keeps the retry policy in play.
    const offAbort = opts.abort.onAbort(() => finish({ kind: 'failed', outcome: 'failed', why: 'the agent hung up while the app was ringing' }));
    if (bindings.length === 0) finish({ kind: 'failed', outcome: 'failed', why: 'no registered app' });

    for (const b of bindings) {
      const route = routeToApp(b);
      const headers = { ...opts.headers };
      // drachtio-server rewrites a From naming "localhost" with the host of the transport it
      // picked, which it leaves empty when it reuses a WebSocket connection: the INVITE then
      // cannot be built. Over WebSocket the From is left to drachtio-server (the app shows
      // X-Knock-Agent, not the From).
      if (route.proxy === null && b.source && /^wss?\//.test(b.source)) delete headers.From;
      const uacOpts: Srf.CreateUACOptions = { headers };
      if (route.proxy) uacOpts.proxy = route.proxy;
      // drachtio-srf calls cbRequest(err, req) with the INVITE as sent: its Call-ID and our tag.
      const cbRequest = ((err: unknown, req?: SentInvite) => {
        if (err || !req) return;
        if (settled) {
          try {
            req.cancel();
          } catch {
            // nothing to cancel
          }
          return;
        }
        sent.push(req);
        if (req.stackTxnId) opts.onSent?.(req.stackTxnId);
        const callId = req.get('Call-ID');
        callIds.push(callId);
        waiting.set(callId, {
          deviceId: b.deviceId,
          fromTag: fromTagOf(req as unknown as SipRequest),
          answer: (answer) => finish({ kind: 'answered', answer, deviceId: b.deviceId }),
        });
      }) as unknown as (req: Srf.SrfRequest) => void;
      ctx.srf
        .createUAC(route.uri, uacOpts, { cbRequest })
        .then((dialog) => {
          // Answered in the ringing dialog itself: no token, no proof; not a verified answer.
          const d = dialog.destroy({ headers: { Reason: 'SIP;cause=403;text="answer with a verified call (Replaces)"' } }) as unknown;
          if (d instanceof Promise) d.catch(() => undefined);
          if (--pending === 0) finish({ kind: 'failed', outcome: 'failed', why: 'the app answered without verifying' });
        })
        .catch((err: { status?: number }) => {
          const status = err.status ?? 0;
          if (status === 486 || status === 600 || status === 603) worst = 'busy';
          if (--pending === 0) finish({ kind: 'failed', outcome: worst, why: `the app answered ${status || 'with an error'}` });
        });
    }
  });
}
