/**
 * A scheduled callback placed outward (SPEC core flow 1 step 4, "agent calls" mode): the agent
 * reserved by callbackDue is rung, and the SIP layer then rings the customer's app, which answers
 * after the customer's biometric or PIN (accept.ts, then admitCallbackAnswer in call-session.ts).
 * A failure at any step goes through callEnded (call-session.ts), which applies the retry policy.
 *
 * The customer's app can only ring when it is registered for calls (app-registration.ts); when
 * none of their devices is, the app is woken with a push first.
 */
import { isAppError } from '../domain/errors.js';
import type { CallRequest } from '../domain/model.js';
import type { FlowDeps } from './ports.js';

/**
 * Sends the "callback.incoming" push (the agent's name and the reference) that makes the app
 * register. A customer who cannot be reached is not an error here: the wait for a registration
 * then simply runs out and the retry policy applies.
 */
export async function askAppToRegister(deps: FlowDeps, request: CallRequest, agentName: string): Promise<boolean> {
  try {
    const sent = await deps.notifier.notifyCustomer({ request, agentName, kind: 'callback_incoming', now: deps.clock() });
    deps.logger.info({ requestId: request.id, delivered: sent.delivered }, 'asked the app to register for the callback');
    return sent.delivered.length > 0;
  } catch (e) {
    deps.logger.warn({ requestId: request.id, code: isAppError(e) ? e.code : 'internal' }, 'could not ask the app to register for the callback');
    return false;
  }
}
