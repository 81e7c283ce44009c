/**
 * Decides what a new INVITE is (RFC 3261 §8.2 request processing at this UAS):
 *   - a customer call: it carries `Authorization: Bearer` (RFC 8898) or is addressed to the
 *     customer call URI -> the customer call handler (plugged in with onCustomerInvite);
 *   - otherwise a desk phone call: digest-authenticated like REGISTER, then a feature code
 *     (routing file) or a number (extension, group, agent) -> feature-codes / extension-call.
 * In-dialog requests (re-INVITE, BYE, REFER…) never come here: drachtio-srf hands them to
 * their dialog.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import type { FlowDeps } from '../flows/ports.js';
import type { DeskPhoneAuthenticator } from './desk-phone-auth.js';
import { callExtension } from '../calls/extension-call.js';
import { runFeatureCode } from './feature-codes.js';
import type { LocationService } from './location-service.js';
import { matchFeatureCode } from './routing-config.js';
import type { RoutingHolder } from './routing-reload.js';
import { addrSpec, sendResponse, uriUser, type SipRequest, type SipResponse } from './sip-message.js';

/**
 * Handles one customer INVITE from start to end (token check, media, bridging). It owns the
 * response: it must answer or reject the request.
 */
export type CustomerInviteHandler = (req: SipRequest, res: SipResponse) => Promise<void>;

export interface InviteRouterContext {
  deps: FlowDeps;
  srf: Srf;
  /** Read once per call: a reload while this call is routed does not change its routing. */
  routing: Pick<RoutingHolder, 'current'>;
  locations: LocationService;
  auth: DeskPhoneAuthenticator;
  logger: Logger;
}

export interface InviteRouter {
  handle(req: SipRequest, res: SipResponse): Promise<void>;
  /** Plugs in (or replaces) the customer call handler; until then such calls get 503. */
  onCustomerInvite(handler: CustomerInviteHandler): void;
}

/** True for an INVITE from the customer app rather than a desk phone. */
export function isCustomerInvite(req: SipRequest, customerCallUri: string): boolean {
  if (req.has('Authorization') && /^\s*Bearer\s/i.test(req.get('Authorization'))) return true;
  const customerUser = uriUser(customerCallUri);
  return customerUser !== null && uriUser(req.uri) === customerUser;
}

export function createInviteRouter(ctx: InviteRouterContext): InviteRouter {
  let customerHandler: CustomerInviteHandler | null = null;
  const log = ctx.logger.child({ component: 'invite-router' });

  return {
    onCustomerInvite(handler) {
      customerHandler = handler;
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
      await callExtension({ deps: ctx.deps, srf: ctx.srf, routing, locations: ctx.locations, logger: ctx.logger }, req, res, agent, dialled);
    },
  };
}
