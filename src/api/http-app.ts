/**
 * The express application: security headers, request ids and logs, metrics, JSON bodies, the
 * routes, and problem details for every error. No business rule lives here.
 */
import express, { type Express } from 'express';
import { AppError } from '../domain/errors.js';
import type { FlowDeps } from '../flows/ports.js';
import type { Metrics } from './metrics.js';
import { problemHandler, sendProblem } from './problem.js';
import { requestLog } from './request-log.js';
import { responseCheck } from './response-check.js';
import { securityHeaders } from './security-headers.js';
import { refuseBadText, verifyUtf8 } from './text-input.js';
import { appEventsRoutes, type AppStreams } from './routes/app-events-routes.js';
import { appRoutes } from './routes/app-routes.js';
import { brandingRoutes } from './routes/branding-routes.js';
import { consoleRoutes } from './routes/console-routes.js';
import { opsRoutes, type HealthCheck } from './routes/ops-routes.js';
import { routingRoutes, type RoutingAdmin } from './routes/routing-routes.js';
import { staffRoutes } from './routes/staff-routes.js';

export interface HttpAppOptions {
  deps: FlowDeps;
  metrics: Metrics;
  checks: HealthCheck[];
  version: string;
  /** Static pages (src/web) to serve under /, when present. */
  staticDir?: string;
  /** The Web Push public key the push channel signs with, for the app to subscribe. */
  vapidPublicKey: string;
  /** Open apps' live streams, which also carry their notifications. */
  appChannel?: AppStreams;
  /** The routing in force and its reload; null when this instance does not route calls. */
  routing?: RoutingAdmin | null;
}

export function createHttpApp(opts: HttpAppOptions): Express {
  const { deps } = opts;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.server.trustProxy);
  // First, so every answer has them: pages, API, 404s and errors alike.
  app.use(securityHeaders(deps.config));
  // Request ids and one line per request; health and metrics scrapes are not logged.
  app.use(requestLog(deps.logger, { quiet: (url) => url === '/healthz' || url === '/metrics' }));
  app.use(opts.metrics.httpMiddleware);
  // JSON answers checked against the OpenAPI document (logged in production, 500 in tests).
  app.use(responseCheck(deps.config.server.responseCheck, deps.logger));
  app.use(express.json({ limit: '64kb', verify: verifyUtf8 }));
  app.use(refuseBadText);
  app.use(opsRoutes({ checks: opts.checks, metrics: opts.metrics, keyRing: deps.keyRing, version: opts.version, metricsToken: deps.config.metrics.token, routing: opts.routing ? () => opts.routing!.active() : null }));
  app.use(brandingRoutes(deps.config));
  app.use('/api/v1', staffRoutes(deps));
  app.use('/api/v1', routingRoutes(deps, opts.routing ?? null));
  app.use('/api/v1', appRoutes(deps));
  app.use(appEventsRoutes(deps, opts.vapidPublicKey, opts.appChannel), consoleRoutes(deps));
  if (opts.staticDir) app.use(express.static(opts.staticDir, { index: 'index.html' }));
  app.use((req, res) => sendProblem(res, new AppError('not_found', `No such endpoint: ${req.method} ${req.path}.`), req.originalUrl));
  app.use(problemHandler);
  return app;
}
