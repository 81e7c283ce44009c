/**
 * The composition root: builds every adapter from the configuration, hands them to the flows,
 * and starts the HTTP server and the job runner. Nothing else constructs adapters.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createHttpApp } from './api/http-app.js';
import { startMetricsListener } from './api/metrics-listener.js';
import { createMetrics, type Metrics } from './api/metrics.js';
import type { HealthCheck } from './api/routes/ops-routes.js';
import type { Config } from './config/config.js';
import { AppError } from './domain/errors.js';
import { loadDemoData } from './flows/demo-data.js';
import { createClusterEvents } from './flows/live-events.js';
import type { FlowDeps, SchedulerPort } from './flows/ports.js';
import { expireDeskPhoneRegistrations } from './flows/desk-phone.js';
import { expireAppRegistrations } from './flows/app-registration.js';
import { callbackDue, expireUnansweredRequest, lapseHold, remindCustomer } from './flows/timed-steps.js';
import { runConsoleTransfer, takeTransferCommand } from './flows/console-transfer.js';
import { drainOutbox } from './flows/outbox.js';
import { reconcileRequestJobs } from './flows/reconcile.js';
import { startHousekeeping } from './jobs/housekeeping.js';
import { createScheduler, type Scheduler } from './jobs/scheduler.js';
import { createAppChannel } from './notify/app-channel.js';
import { createNotifier } from './notify/notifier.js';
import { ensureVapidKeys } from './notify/vapid-keys.js';
import { createWebPushChannel } from './notify/webpush-channel.js';
import { KeyRing } from './security/signing-keys.js';
import { startCustomerCalls, type CustomerCallService } from './calls/customer-call-service.js';
import { createDeskPhoneCallHandler } from './calls/extension-call.js';
import { createRoutingCluster, routingAdmin, type RoutingCluster } from './sip/routing-cluster.js';
import { startSipServer, type SipServer } from './sip/sip-server.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './store/embedded-postgres.js';
import { openStore } from './store/pg-store.js';
import { createInstanceCommands } from './store/instance-commands.js';
import { createPgNotify } from './store/pg-notify.js';
import { LIVE_EVENTS_CHANNEL } from './store/repos/live-event-repo.js';

export const VERSION = '0.1.0';

/** How long the shared live event log keeps an event for streams that resume. */
const LIVE_EVENTS_KEEP_MS = 60 * 60_000;

/** How long a command waits for the answer of the instance holding the call. */
const COMMAND_ANSWER_MS = 3_000;

export interface ServiceOptions {
  logger: Logger;
  clock?: () => Date;
  /** Run scheduled jobs in this process (default). Off for API-only instances. */
  runJobs?: boolean;
  /** Listen for HTTP (default). Off when a test drives the flows directly. */
  listen?: boolean;
  instanceName?: string;
}

export interface RunningService {
  deps: FlowDeps;
  scheduler: Scheduler;
  metrics: Metrics;
  /** Base URL the HTTP server listens on, e.g. http://127.0.0.1:8080. */
  url: string | null;
  /** Base URL of the metrics listener (`metrics.listen`), or null when there is none. */
  metricsUrl: string | null;
  databaseUrl: string;
  /** The SIP side (registrar, routing, drachtio connection); null when sip.enabled is false. */
  sip: SipServer | null;
  /** Customer calls and the FreeSWITCH connection; null when sip.enabled is false. */
  customerCalls: CustomerCallService | null;
  /** Routing reloads on every instance (LISTEN/NOTIFY); null when sip.enabled is false. */
  routingCluster: RoutingCluster | null;
  stop(): Promise<void>;
}

function webDir(): string {
  // The pages are static files, served from src/web whether the server runs from src/ or dist/.
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'web');
}

/** Start-up repairs; a database that is down now is retried by housekeeping, not fatal. */
async function runStartupRepairs(deps: FlowDeps): Promise<void> {
  try {
    await reconcileRequestJobs(deps);
    await drainOutbox(deps);
  } catch (e) {
    deps.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'start-up repairs failed; housekeeping tries again');
  }
}

export async function startService(config: Config, options: ServiceOptions): Promise<RunningService> {
  const logger = options.logger;
  const clock = options.clock ?? (() => new Date());
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        logger.warn({ err: e }, 'error while stopping');
      }
    }
  };

  try {
    let embedded: EmbeddedPostgres | null = null;
    let databaseUrl = config.database.url;
    if (!databaseUrl) {
      const dataDir = resolve(config.database.embedded.dataDir);
      embedded = await startEmbeddedPostgres({ dataDir, host: config.database.embedded.host, port: config.database.embedded.port, logger });
      stops.push(() => embedded!.stop());
      databaseUrl = embedded.url;
      logger.info({ dataDir }, 'using the embedded PostgreSQL (set DATABASE_URL for a PostgreSQL server)');
    }
    // This process: a new id each start, stamped on the calls it holds and the agents it makes
    // busy, so a restarted or surviving process can tell what a dead one left behind.
    const instance = { id: randomUUID(), name: options.instanceName ?? (config.server.instanceName || hostname()) };
    const store = await openStore({ url: databaseUrl, poolSize: config.database.poolSize, logger, owner: instance.id });
    stops.push(() => store.close());

    const keyRing = await KeyRing.load(store, { rotationDays: config.tokens.keyRotationDays, overlapSeconds: config.tokens.keyOverlapSeconds, logger }, clock());
    // Live events reach every instance's streams through a log in PostgreSQL; a NOTIFY on commit
    // wakes the readers (docs/cluster.md).
    const events = createClusterEvents({ log: store.liveEvents, origin: instance.id, logger });
    const eventWakeUps = createPgNotify({ url: databaseUrl, channels: [LIVE_EVENTS_CHANNEL], logger, onNotification: () => events.wake(), onReconnect: () => events.wake() });
    await events.start();
    await eventWakeUps.start();
    stops.push(() => events.stop());
    stops.push(() => eventWakeUps.stop());
    const metrics = createMetrics(events);
    stops.push(() => metrics.stop());

    const vapid = await ensureVapidKeys(config.notify.webpush, store.settings);
    const webpush = createWebPushChannel({ vapid, logger, allowedEndpointOrigins: config.notify.webpush.allowedEndpointOrigins });
    stops.push(() => webpush.close());
    // Open apps, reached over their live event stream (held by this process).
    const appChannel = createAppChannel({ store, owner: instance.id, logger });
    stops.push(() => appChannel.close());
    const notifier = createNotifier({
      store,
      config,
      logger,
      channels: {
        app: appChannel,
        webpush,
        // The Twilio SDK (~20 MB resident) is loaded only when SMS is configured.
        ...(config.notify.sms.enabled ? { sms: (await import('./notify/sms-channel.js')).createSmsChannel({ sms: config.notify.sms, logger }) } : {}),
      },
    });

    let sip: SipServer | null = null;
    let customerCalls: CustomerCallService | null = null;
    let routingCluster: RoutingCluster | null = null;
    // The scheduler's handlers call the flows, and the flows schedule through the scheduler.
    let scheduler: Scheduler | null = null;
    const schedulerPort: SchedulerPort = {
      scheduleExpiry: (id, at) => scheduler!.scheduleExpiry(id, at),
      scheduleReminder: (id, at) => scheduler!.scheduleReminder(id, at),
      scheduleCallback: (id, at) => scheduler!.scheduleCallback(id, at),
      cancelForRequest: async (id) => {
        await scheduler!.cancelForRequest(id);
      },
      scheduleTransfer: (data) => scheduler!.scheduleTransfer(data),
    };
    // Commands about a live call go to the instance holding it (docs/cluster.md).
    const instanceCommands = createInstanceCommands({
      url: databaseUrl,
      instanceId: instance.id,
      logger,
      handle: async (kind, data) => {
        if (kind !== 'call.transfer') throw new AppError('validation_failed', `Unknown command ${kind}.`);
        takeTransferCommand(deps, customerCalls?.transfers ?? null, data);
        return 'taken';
      },
    });
    await instanceCommands.start();
    stops.push(() => instanceCommands.stop());
    const commands = {
      transfer: async (owner: string, data: Record<string, unknown>) => {
        await instanceCommands.ask(owner, 'call.transfer', data, COMMAND_ANSWER_MS);
      },
    };
    const deps: FlowDeps = { store, config, clock, logger, scheduler: schedulerPort, notifier, events, keyRing, commands };
    scheduler = createScheduler({
      url: databaseUrl,
      config: config.jobs,
      logger,
      instanceName: instance.name,
      poolSize: embedded ? 4 : undefined,
      handlers: {
        expireRequest: (id) => expireUnansweredRequest(deps, id),
        remindCustomer: (id) => remindCustomer(deps, id),
        lapseHold: (id) => lapseHold(deps, id),
        callbackDue: (id) => callbackDue(deps, id),
        // Console transfers act on this instance's calls (the SIP side, once it has started).
        transfer: async (data, attempt) => {
          if (config.sip.enabled && !customerCalls) throw new AppError('unavailable', 'Calls are not set up on this instance yet.');
          return runConsoleTransfer(deps, customerCalls?.transfers ?? null, data, attempt);
        },
      },
    });
    stops.push(() => scheduler!.stop());
    // Moves write their jobs in their own transaction (store), so the table must exist first.
    await scheduler.ensureSchema();
    if (options.runJobs !== false) {
      await scheduler.start();
      // Work a crash or an outage may have left: missing request jobs, unsent notifications.
      await runStartupRepairs(deps);
      const stopHousekeeping = startHousekeeping({
        cron: config.jobs.housekeepingCron,
        logger,
        tasks: [
          { name: 'expired tokens', run: (now) => store.tokens.purgeExpired(now) },
          { name: 'expired challenges', run: (now) => store.challenges.purgeExpired(now) },
          { name: 'expired agent sign-ins', run: (now) => store.agentLogins.purgeExpired(now) },
          { name: 'ended attempt-limit windows', run: () => store.attemptLimits.purgeExpired() },
          {
            name: 'stale sessions',
            run: (now) => store.sessions.revokeStale(new Date(now.getTime() - config.jobs.staleSessionHours * 3_600_000), now),
          },
          { name: 'expired desk phone registrations', run: () => expireDeskPhoneRegistrations(deps) },
          { name: 'expired app registrations', run: () => expireAppRegistrations(deps) },
          { name: 'missing request jobs', run: () => reconcileRequestJobs(deps) },
          { name: 'notification outbox', run: () => drainOutbox(deps) },
          // A stream that was away longer than this starts afresh (it re-reads its lists anyway).
          { name: 'old live events', run: (now) => store.liveEvents.purgeBefore(new Date(now.getTime() - LIVE_EVENTS_KEEP_MS)) },
          {
            name: 'signing key rotation',
            run: async (now) => {
              await keyRing.refresh(now);
              return 0;
            },
          },
        ],
      });
      stops.push(stopHousekeeping);
    }

    if (embedded && config.demo.loadOnFirstStart) await loadDemoData(deps);

    const checks: HealthCheck[] = [{ name: 'database', required: true, check: () => store.ping() }];

    // SIP: the registrar and call routing behind drachtio-server. Required for readiness unless
    // sip.requiredForReadiness is off: an instance that cannot take calls or registrations is not
    // ready, though its HTTP API keeps serving and the connection retries.
    // One line, so a person running it without SIP knows what they have.
    if (!config.sip.enabled) logger.info('SIP is off (sip.enabled=false): the API, the console and the app work; calls, desk phones and callbacks placed by phone do not');
    if (config.sip.enabled) {
      sip = await startSipServer({ deps, logger, instanceName: instance.name, registry: metrics.registry });
      stops.push(() => sip!.stop());
      // Calls between desk phones need no media server: their handler is plugged in at once.
      sip.onDeskPhoneCall(createDeskPhoneCallHandler({ deps, srf: sip.srf, locations: sip.locations, logger }));
      const sipServer = sip;
      // A reload asked on any instance reaches this one (and its answer goes back) over the database.
      routingCluster = createRoutingCluster({ holder: sip.routing, store, instance, logger, instanceDeadSeconds: config.calls.instanceDeadSeconds });
      stops.push(() => routingCluster!.stop());
      await routingCluster.start();
      checks.push({ name: 'sip', required: config.sip.requiredForReadiness, check: async () => sipServer.isConnected() });
      // Media (FreeSWITCH) and the customer calls on top of it; not required either: desk phone
      // registration and the API work without it, and the connection retries.
      customerCalls = startCustomerCalls({ deps, sip, logger, instance, registry: metrics.registry });
      stops.push(() => customerCalls!.stop());
      const media = customerCalls.media;
      checks.push({ name: 'media', required: false, check: async () => media.isConnected() });
      // Down while calls left behind by a lost component are being found and closed.
      const reconciler = customerCalls.reconciler;
      checks.push({ name: 'calls', required: false, check: async () => !reconciler.degraded() });
    }
    let url: string | null = null;
    if (options.listen !== false) {
      const routing = sip && routingCluster ? routingAdmin(sip.routing, routingCluster, instance.name) : null;
      const app = createHttpApp({ deps, metrics, checks, version: VERSION, staticDir: webDir(), vapidPublicKey: vapid.publicKey, appChannel, routing });
      const server: Server = createServer(app);
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(config.server.port, config.server.host, () => ok());
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : config.server.port;
      url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
      stops.push(
        () =>
          new Promise<void>((ok) => {
            server.close(() => ok());
            server.closeAllConnections();
          }),
      );
      logger.info({ url }, 'HTTP API listening');
    }
    let metricsUrl: string | null = null;
    if (options.listen !== false && config.metrics.listen) {
      const listener = await startMetricsListener(metrics, config.metrics.listen, logger);
      stops.push(() => listener.close());
      metricsUrl = listener.url;
    }
    return { deps, scheduler, metrics, url, metricsUrl, databaseUrl, sip, customerCalls, routingCluster, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
