/**
 * Decides what a new INVITE is (RFC 3261 §8.2 request processing at this UAS):
 *   - a customer call: it carries `Authorization: Bearer` (RFC 8898) or is addressed to the
 *     customer call URI -> the customer call handler (plugged in with onCustomerInvite);
 *   - otherwise a desk phone call: digest-authenticated like REGISTER, then a feature code
 *     (routing file) -> feature-codes, or a number (extension, group, agent) -> the desk phone
 *     call handler (plugged in with onDeskPhoneCall: calls/extension-call.ts, wired by the
 *     composition root, since placing a call is orchestration, not SIP mechanics).
 * In-dialog requests (re-INVITE, BYE, REFER…) never come here: drachtio-srf hands them to
 * their dialog.
 */
import type { Logger } from 'pino';
import type { Agent } from '../domain/model.js';
import type { FlowDeps } from '../flows/ports.js';
import type { DeskPhoneAuthenticator } from './desk-phone-auth.js';
import { runFeatureCode } from './feature-codes.js';
import { matchFeatureCode, type RoutingConfig } from './routing-config.js';
import type { RoutingHolder } from './routing-reload.js';
import { addrSpec, sendResponse, uriUser, type SipRequest, type SipResponse } from './sip-message.js';

/**
 * Handles one customer INVITE from start to end (token check, media, bridging). It owns the
 * response: it must answer or reject the request.
 */
export type CustomerInviteHandler = (req: SipRequest, res: SipResponse) => Promise<void>;

/**
 * Places one desk phone call to a number (the INVITE's digest already checked, `caller` is the
 * agent it names): rings, bridges and ends it. It owns the response, like the customer handler.
 * `routing` is the routing in force when the INVITE came, read once for the whole call.
 */
export type DeskPhoneCallHandler = (req: SipRequest, res: SipResponse, call: { caller: Agent; dialled: string; routing: RoutingConfig }) => Promise<void>;

export interface InviteRouterContext {
  deps: FlowDeps;
  /** Read once per call: a reload while this call is routed does not change its routing. */
  routing: Pick<RoutingHolder, 'current'>;
  auth: DeskPhoneAuthenticator;
  logger: Logger;
}

export interface InviteRouter {
  handle(req: SipRequest, res: SipResponse): Promise<void>;
  /** Plugs in (or replaces) the customer call handler; until then such calls get 503. */
  onCustomerInvite(handler: CustomerInviteHandler): void;
  /** Plugs in (or replaces) the desk phone call handler; until then such calls get 503. */
  onDeskPhoneCall(handler: DeskPhoneCallHandler): void;
}

/** True for an INVITE from the customer app rather than a desk phone. */
export function isCustomerInvite(req: SipRequest, customerCallUri: string): boolean {
  if (req.has('Authorization') && /^\s*Bearer\s/i.test(req.get('Authorization'))) return true;
  const customerUser = uriUser(customerCallUri);
  return customerUser !== null && uriUser(req.uri) === customerUser;
}

export function createInviteRouter(ctx: InviteRouterContext): InviteRouter {
  let customerHandler: CustomerInviteHandler | null = null;
  let deskPhoneHandler: DeskPhoneCallHandler | null = null;
  const log = ctx.logger.child({ component: 'invite-router' });

  return {
    onCustomerInvite(handler) {
      customerHandler = handler;
    },
    onDeskPhoneCall(handler) {
      deskPhoneHandler = handler;
    },

    async handle(req, res) {
      if (isCustomerInvite(req, ctx.deps.config.sip.customerCallUri)) {
        if (!customerHandler) {
          sendResponse(res, 503, 'Service Unavailable', { 'Retry-After': '30' });
          log.warn('customer call refused: no customer call handler is installed');
          return;
        }
        await customerHandler(req, res);
        return;
      }

      const fromUser = req.has('From') ? uriUser(addrSpec(req.get('From'))) : null;
      const agent = await ctx.auth.authenticate(req, res, { action: 'invite', claimedUser: fromUser });
      if (!agent) return;
      const dialled = uriUser(req.uri);
      if (!dialled) {
        sendResponse(res, 484, 'Address Incomplete');
        return;
      }
      // Customer numbers after a feature code are personal data: logged and audited cut short.
      const shown = dialled.startsWith('*') ? `${dialled.slice(0, 3)}…` : dialled;
      log.info({ agentId: agent.id, extension: agent.extension, dialled: shown }, 'desk phone call');
      await ctx.deps.store.audit.append({
        actor: 'sip',
        action: 'sip.invite.auth',
        subject: `agent:${agent.id}`,
        decision: 'allow',
        reason: `digest verified for extension ${agent.extension}`,
        data: { dialled: shown, callId: req.get('Call-ID') },
      });
      const { routing } = ctx.routing.current();
      const feature = matchFeatureCode(routing, dialled);
      if (feature) {
        await runFeatureCode({ deps: ctx.deps, logger: ctx.logger }, req, res, agent, feature.feature, feature.rest);
        return;
      }
      if (!deskPhoneHandler) {
        sendResponse(res, 503, 'Service Unavailable', { 'Retry-After': '30' });
        log.warn('desk phone call refused: no desk phone call handler is installed');
        return;
      }
      await deskPhoneHandler(req, res, { caller: agent, dialled, routing });
    },
  };
}
