/**
 * Plugs the customer-facing call handling into the SIP server: connects to FreeSWITCH, installs
 * the token-checked customer INVITE handler, and places due callbacks. The composition root
 * calls this once when SIP is enabled.
 */
import type { Logger } from 'pino';
import type { CallTransferPort, FlowDeps } from '../flows/ports.js';
import { connectFreeswitch, type FreeswitchConnection } from '../media/freeswitch-connection.js';
import { consoleTransfers } from './console-transfer.js';
import { createCustomerCallHandler } from './customer-call.js';
import { ActiveCalls, type CallContext } from './customer-call-state.js';
import { startOutboundCallbacks } from './outbound-callback.js';
import type { SipServer } from './sip-server.js';

export interface CustomerCallService {
  media: FreeswitchConnection;
  calls: ActiveCalls;
  /** What a console transfer job asks of this instance's calls (console-transfer.ts). */
  transfers: CallTransferPort;
  stop(): Promise<void>;
}

export function startCustomerCalls(args: { deps: FlowDeps; sip: SipServer; logger: Logger }): CustomerCallService {
  const media = connectFreeswitch({ srf: args.sip.srf, media: args.deps.config.media, logger: args.logger });
  const calls = new ActiveCalls();
  const ctx: CallContext = { deps: args.deps, srf: args.sip.srf, media, locations: args.sip.locations, logger: args.logger, calls };
  args.sip.onCustomerInvite(createCustomerCallHandler(ctx));
  const unsubscribe = startOutboundCallbacks(ctx);
  return {
    media,
    calls,
    transfers: consoleTransfers(calls, args.sip.locations),
    async stop() {
      unsubscribe();
      await calls.endAll();
      await media.close();
    },
  };
}
