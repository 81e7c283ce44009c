/**
 * Plugs the customer-facing call handling into the SIP server: connects to FreeSWITCH, installs
 * the token-checked customer INVITE handler, and places due callbacks. The composition root
 * calls this once when SIP is enabled.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CallTransferPort, FlowDeps } from '../flows/ports.js';
import { connectFreeswitch, type FreeswitchConnection } from '../media/freeswitch-connection.js';
import { startCallReconciler, type CallReconciler } from './call-reconciler.js';
import { consoleTransfers } from './console-transfer.js';
import { createCustomerCallHandler } from './customer-call.js';
import { ActiveCalls, type CallContext } from './customer-call-state.js';
import { startOutboundCallbacks } from './outbound-callback.js';
import { handleTransferRequests } from './transfer-requests.js';
import type { SipServer } from '../sip/sip-server.js';

export interface CustomerCallService {
  media: FreeswitchConnection;
  calls: ActiveCalls;
  /** What a console transfer job asks of this instance's calls (console-transfer.ts). */
  transfers: CallTransferPort;
  /** Checks live calls against FreeSWITCH, drachtio-server and the other instances. */
  reconciler: CallReconciler;
  stop(): Promise<void>;
}

export function startCustomerCalls(args: {
  deps: FlowDeps;
  sip: SipServer;
  logger: Logger;
  /** This process: a new id each start, and the instance name it keeps across restarts. */
  instance: { id: string; name: string };
  registry?: Registry;
}): CustomerCallService {
  const media = connectFreeswitch({ srf: args.sip.srf, media: args.deps.config.media, logger: args.logger });
  const calls = new ActiveCalls();
  const ctx: CallContext = { deps: args.deps, srf: args.sip.srf, media, locations: args.sip.locations, logger: args.logger, calls, acceptTransfers: handleTransferRequests };
  args.sip.onCustomerInvite(createCustomerCallHandler(ctx));
  const unsubscribe = startOutboundCallbacks(ctx);
  const reconciler = startCallReconciler({ deps: args.deps, instance: args.instance, sip: args.sip, media, calls, logger: args.logger, ...(args.registry ? { registry: args.registry } : {}) });
  return {
    media,
    calls,
    transfers: consoleTransfers(calls, args.sip.locations),
    reconciler,
    async stop() {
      unsubscribe();
      await calls.endAll();
      await reconciler.stop();
      await media.close();
    },
  };
}
