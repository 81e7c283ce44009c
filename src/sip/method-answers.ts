/**
 * What this server does with each method a desk phone may send, stated once: OPTIONS lists it
 * (RFC 3261 §11.2), a method it does not take (MESSAGE, PUBLISH) gets 405 with `Allow` (§8.2.1,
 * §21.4.6), and a request that belongs in a dialog but names none this server knows (INFO, NOTIFY)
 * gets 481 (§12.2.2). Without a route drachtio-server answers such requests 503, which tells a
 * phone the server is overloaded and to come back.
 *
 * drachtio-server 0.9.10 passes on, outside a dialog, only INVITE, REGISTER, SUBSCRIBE, NOTIFY,
 * OPTIONS, INFO, MESSAGE and PUBLISH (hard-coded, no setting changes it). It answers CANCEL itself,
 * and BYE or UPDATE outside a dialog with 481; it drops without an answer a REFER or PRACK outside
 * a dialog, a stray ACK and any other method (RFC 3261 §21.5.2 would have 501): those never reach
 * the application. See docs/desk-phones.md.
 */
import { EVENT_CONTENT_TYPE, EVENT_PACKAGES } from '../domain/event-packages.js';
import { sendResponse, type SipRequest, type SipResponse } from './sip-message.js';

/** Methods this server takes (RFC 3261 §20.5). */
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, SUBSCRIBE, REGISTER';
/** Event packages a phone may subscribe to (RFC 6665 §8.2.2). */
export const ALLOW_EVENTS = EVENT_PACKAGES.join(', ');

/** The answer to OPTIONS: what a phone or a proxy may use here. */
export function capabilityHeaders(): Record<string, string> {
  return {
    Allow: ALLOW,
    'Allow-Events': ALLOW_EVENTS,
    // Bodies this server reads: SDP in calls, sipfrag in a REFER's NOTIFY; and the ones it sends.
    Accept: ['application/sdp', 'message/sipfrag', ...Object.values(EVENT_CONTENT_TYPE)].join(', '),
    'Accept-Encoding': 'identity',
    'Accept-Language': 'en',
    Supported: 'timer',
  };
}

type Handler = (req: SipRequest, res: SipResponse) => void;
/** Per-method registration exists on Srf at run time but not in its typings. */
type MethodRoutes = Record<'options' | 'message' | 'publish' | 'info' | 'notify', (h: Handler) => void>;

/** Registers the answers above on drachtio-srf (SUBSCRIBE is subscriptions.ts's). */
export function answerOtherMethods(srf: unknown): void {
  const routes = srf as MethodRoutes;
  routes.options((_req, res) => sendResponse(res, 200, 'OK', capabilityHeaders()));
  // PUBLISH (RFC 3903): an agent's availability is set in the console and followed from calls
  // and registrations, not published by the phone.
  for (const method of ['message', 'publish'] as const) routes[method]((_req, res) => sendResponse(res, 405, 'Method Not Allowed', { Allow: ALLOW }));
  // In-dialog requests whose dialog drachtio-srf does not hold in this process (a dialog of a
  // process that is gone, or a request that never had one).
  for (const method of ['info', 'notify'] as const) routes[method]((_req, res) => sendResponse(res, 481, 'Call/Transaction Does Not Exist'));
}
