/**
 * Feature codes dialled on a desk phone (configured under featureCodes in the routing file):
 *   knock          *88<customer number>  -> a call request to that customer (flows/knock-by-phone)
 *   next_callback  *89                   -> take the oldest due callback (flows/take-next-callback)
 *
 * How the phone is answered. A feature code does an action; there is no one to talk to. The SIP
 * core has no media of its own, so it cannot answer 200 and play a confirmation tone (a 2xx
 * would also open a dialog the phone must ACK and then tear down with BYE, which phones show as
 * a connected-then-dropped call). Instead every outcome is a final non-2xx response whose reason
 * phrase says what happened — desk phones (Yealink, Grandstream, Snom…) print the reason phrase
 * on the call screen — plus a Warning header (RFC 3261 §20.43, code 399) with the longer text,
 * which phones such as Polycom show when warning display is enabled. Status codes are chosen so
 * the phone does not play a busy tone or retry:
 *   done            480 "Knock Sent" / "Callback Taken" (nothing to connect now; not a busy signal)
 *   bad number      484 Address Incomplete
 *   no such number  404 "Customer Not Found" / "No Callback Due"
 *   several matches 485 Ambiguous
 *   not possible    480 with the reason ("Customer Unreachable", "Not Available")
 * When the customer accepts, or the callback dials out, the desk phone rings as a new call.
 */
import type { Logger } from 'pino';
import { isAppError } from '../domain/errors.js';
import type { Agent } from '../domain/model.js';
import { knockByPhone } from '../flows/knock-by-phone.js';
import type { FlowDeps } from '../flows/ports.js';
import { takeNextCallback } from '../flows/take-next-callback.js';
import type { FeatureCode } from './routing-config.js';
import { sendResponse, warning, type SipRequest, type SipResponse } from './sip-message.js';

export interface FeatureCodeContext {
  deps: FlowDeps;
  logger: Logger;
}

/** How a refused knock is answered, by error code (see the table above). */
const KNOCK_REFUSALS = new Map<string, [number, string]>([
  ['validation_failed', [484, 'Address Incomplete']],
  ['not_found', [404, 'Customer Not Found']],
  ['conflict', [485, 'Ambiguous']],
  ['request_already_open', [480, 'Knock Already Pending']],
  ['no_reachable_device', [480, 'Customer Unreachable']],
]);

function answer(ctx: FeatureCodeContext, res: SipResponse, status: number, reason: string, text: string): void {
  sendResponse(res, status, reason, { Warning: warning(ctx.deps.config.sip.domain, text) });
}

export async function runFeatureCode(ctx: FeatureCodeContext, req: SipRequest, res: SipResponse, agent: Agent, feature: FeatureCode, rest: string): Promise<void> {
  const log = ctx.logger.child({ component: 'feature-code', code: feature.code, agentId: agent.id });
  if (feature.action === 'knock') {
    if (rest.length === 0) {
      answer(ctx, res, 484, 'Address Incomplete', `Dial ${feature.code} followed by the customer's number`);
      return;
    }
    try {
      const { created, customer, request } = await knockByPhone(ctx.deps, {
        agentId: agent.id,
        dialled: rest,
        defaultCountry: feature.defaultCountry,
        reason: feature.reason,
        idempotencyKey: req.get('Call-ID'),
      });
      log.info({ requestId: request.id, customerId: customer.id, created }, created ? 'knock sent from desk phone' : 'knock from desk phone already pending');
      if (created) answer(ctx, res, 480, 'Knock Sent', `Knock sent to ${customer.name} (${request.reference}); your phone rings when they accept`);
      else answer(ctx, res, 480, 'Knock Already Pending', `${customer.name} already has an open request from you (${request.reference})`);
    } catch (e) {
      if (!isAppError(e)) throw e;
      log.info({ code: e.code, why: e.message }, 'knock from desk phone refused');
      const [status, reason] = KNOCK_REFUSALS.get(e.code) ?? [480, 'Knock Not Sent'];
      answer(ctx, res, status, reason, e.message);
    }
    return;
  }

  if (rest.length > 0) {
    answer(ctx, res, 484, 'Address Incomplete', `${feature.code} takes no digits after it`);
    return;
  }
  try {
    const request = await takeNextCallback(ctx.deps, agent.id);
    const customer = await ctx.deps.store.customers.get(request.customerId);
    log.info({ requestId: request.id }, 'agent took the next callback from the desk phone');
    answer(ctx, res, 480, 'Callback Taken', `Calling back ${customer?.name ?? 'the customer'} (${request.reference}); your phone rings first`);
  } catch (e) {
    if (!isAppError(e)) throw e;
    log.info({ code: e.code, why: e.message }, 'take next callback refused');
    if (e.code === 'not_found') answer(ctx, res, 404, 'No Callback Due', e.message);
    else answer(ctx, res, 480, 'Not Available', e.message);
  }
}
