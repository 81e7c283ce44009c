/**
 * The SIP side of the service: reads and checks the routing file (and holds it for reloads:
 * routing-reload.ts), builds the registrar and the INVITE router, registers them with drachtio-srf and connects to drachtio-server (retrying
 * while it is down). The call orchestration (src/calls) plugs its handlers in: customer calls with
 * onCustomerInvite, desk phone calls with onDeskPhoneCall, stray BYEs with onStrayBye.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FlowDeps } from '../flows/ports.js';
import { followAgentLines } from './busy-lamps.js';
import { createDeskPhoneAuthenticator } from './desk-phone-auth.js';
import { createDigestAuth } from './digest-auth.js';
import { createDrachtioConnection } from './drachtio-connection.js';
import { createInviteRouter, type CustomerInviteHandler, type DeskPhoneCallHandler } from './invite-router.js';
import { createLocationService, type LocationService } from './location-service.js';
import { answerOtherMethods } from './method-answers.js';
import { createRegistrar } from './registrar.js';
import { missingDirectoryReferences } from './routing-config.js';
import { createRoutingHolder, readRoutingFile, type RoutingHolder } from './routing-reload.js';
import { sipAttemptLimits } from './sip-attempt-limits.js';
import { sendResponse, type SipRequest, type SipResponse } from './sip-message.js';
import { startSubscriptions, type Subscriptions } from './subscriptions.js';
import { dropLogger, unanswerableInvite } from './unanswerable-invite.js';

export interface SipServerOptions {
  deps: FlowDeps;
  logger: Logger;
  /** This process's name, in the audit entries of its routing reloads. */
  instanceName?: string;
  /** Where the routing version metrics go. */
  registry?: Registry;
}

export interface SipServer {
  /** The drachtio-srf application object (for drachtio-fsmrf and UAC legs). */
  srf: Srf;
  /** The routing in force (`current()`, read once per call) and its reload. */
  routing: RoutingHolder;
  /** Registered desk phones of an extension (the registrar's bindings). */
  locations: LocationService;
  /** Desk phones' SUBSCRIBE dialogs (message-summary, busy lamps) and their NOTIFYs. */
  subscriptions: Subscriptions;
  isConnected(): boolean;
  /** Calls `fn` whenever the drachtio-server connection comes (true) or goes (false). */
  onConnectionChange(fn: (connected: boolean) => void): void;
  /** Plugs in the customer call handler (INVITEs with a Bearer token or to the customer call URI). */
  onCustomerInvite(handler: CustomerInviteHandler): void;
  /** Plugs in the desk phone call handler (a digest-checked INVITE to a number; calls/extension-call.ts). */
  onDeskPhoneCall(handler: DeskPhoneCallHandler): void;
  /**
   * Plugs in the handler for a BYE in a dialog this process does not hold (one a process before
   * it held: call-reconciler.ts). Until then such a BYE gets 481.
   */
  onStrayBye(handler: (req: SipRequest, res: SipResponse) => Promise<void>): void;
  stop(): Promise<void>;
}

const NONCE_KEY_SETTING = 'sip.digestNonceKey';

type Handler = (req: SipRequest, res: SipResponse) => void;
/** Per-method registration exists on Srf at run time but not in its typings. */
type MethodRoutes = { register(h: Handler): void; invite(h: Handler): void; bye(h: Handler): void };

export async function startSipServer(opts: SipServerOptions): Promise<SipServer> {
  const { deps } = opts;
  const config = deps.config;
  const log = opts.logger.child({ component: 'sip' });

  const initial = await readRoutingFile(resolve(config.sip.routingFile), config.sip.routingFile);
  const routing = createRoutingHolder({
    deps,
    logger: opts.logger,
    path: resolve(config.sip.routingFile),
    displayName: config.sip.routingFile,
    initial,
    instanceName: opts.instanceName ?? 'unnamed',
    registry: opts.registry,
  });
  const missing = await missingDirectoryReferences(initial.routing, {
    agent: async (u) => (await deps.store.agents.getByUsername(u)) !== null,
    group: async (g) => (await deps.store.groups.get(g)) !== null,
  });
  for (const m of missing) log.warn(`routing: ${m}`);

  // One nonce key for all instances, so a phone may be answered by any of them.
  const key = await deps.store.settings.setIfAbsent(NONCE_KEY_SETTING, randomBytes(32).toString('hex'));
  const digest = createDigestAuth({
    realm: config.sip.domain,
    key: Buffer.from(key, 'hex'),
    nonceSeconds: config.sip.registrar.nonceSeconds,
    algorithms: config.sip.registrar.digestAlgorithms,
    clock: deps.clock,
  });
  const byExtension = config.sip.registrar.digestAlgorithmsByExtension ?? {};
  const auth = createDeskPhoneAuthenticator({
    deps,
    digest,
    limits: sipAttemptLimits(deps, 'sip-digest'),
    logger: opts.logger,
    algorithmsFor: (extension) => byExtension[extension] ?? config.sip.registrar.digestAlgorithms,
  });
  const locations = createLocationService(deps.store, deps.clock);
  const connection = createDrachtioConnection({ drachtio: config.sip.drachtio, logger: opts.logger });
  const srf = connection.srf;
  const registrar = createRegistrar({ deps, auth, logger: opts.logger });
  const router = createInviteRouter({ deps, routing, auth, logger: opts.logger });

  /** A handler that throws must still answer the request, and never take the process down. */
  const guarded = (name: string, fn: (req: SipRequest, res: SipResponse) => Promise<void>): Handler => (req, res) => {
    fn(req, res).catch((e: unknown) => {
      log.error({ method: name, callId: req.get('Call-ID'), err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'SIP request failed');
      sendResponse(res, 500, 'Server Internal Error');
    });
  };
  const routes = srf as unknown as MethodRoutes;
  routes.register(guarded('REGISTER', registrar));
  // An INVITE drachtio-server would abort on if answered is dropped before anything can answer
  // it, the error path of `guarded` included (unanswerable-invite.ts).
  const logDrop = dropLogger(deps.clock, (source, why, dropped) =>
    log.warn({ source, why, dropped }, 'INVITE dropped without an answer: any response would abort drachtio-server'),
  );
  const handleInvite = guarded('INVITE', (req, res) => router.handle(req, res));
  routes.invite((req, res) => {
    const why = unanswerableInvite(req);
    if (why) logDrop(req.source_address, why);
    else handleInvite(req, res);
  });
  // OPTIONS (phones and load balancers ping with it), and 405/481 for what is not taken here.
  answerOtherMethods(srf);
  // SUBSCRIBE: message-summary and the busy lamps, which follow agents' live events.
  let subscriptions: Subscriptions | null = null;
  const lamps = followAgentLines(deps, async (extension, line) => subscriptions?.lineChanged(extension, line));
  subscriptions = startSubscriptions({ deps, srf, auth, lineOf: (ext) => lamps.lineOf(ext), logger: opts.logger });
  const subs = subscriptions;
  // A BYE reaches these routes only when drachtio-srf knows no dialog for it (RFC 3261 §15.1.2: 481).
  let strayBye = async (_req: SipRequest, res: SipResponse) => sendResponse(res, 481, 'Call/Transaction Does Not Exist');
  routes.bye(guarded('BYE', (req, res) => strayBye(req, res)));
  connection.start();

  const r = initial.routing;
  log.info({ routingFile: r.file, version: initial.version, extensions: r.extensions.size, groups: r.groups.size, featureCodes: r.featureCodes.map((f) => f.code) }, 'SIP routing loaded');
  return {
    srf,
    routing,
    locations,
    subscriptions: subs,
    isConnected: () => connection.isConnected(),
    onConnectionChange: (fn) => connection.onChange(fn),
    onCustomerInvite: (handler) => router.onCustomerInvite(handler),
    onDeskPhoneCall: (handler) => router.onDeskPhoneCall(handler),
    onStrayBye: (handler) => {
      strayBye = handler;
    },
    stop: () => {
      lamps.stop();
      subs.stop();
      return connection.stop();
    },
  };
}
