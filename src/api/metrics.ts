/**
 * Prometheus metrics: process defaults, HTTP traffic by route, and call request transitions
 * (so a dashboard shows knocks, accepts, expiries and scheduled callbacks as they happen).
 */
import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventsPort } from '../flows/ports.js';
import { routeTemplate } from './response-check.js';

export interface Metrics {
  registry: Registry;
  httpMiddleware: RequestHandler;
  /** Components report reachability here (database, scheduler, SIP, media). */
  setUp(component: string, up: boolean): void;
  stop(): void;
}

export function createMetrics(events: EventsPort): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'knock_' });
  const requests = new Counter({
    name: 'knock_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'knock_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'knock_call_request_transitions_total',
    help: 'Call request state changes by new state',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const up = new Gauge({ name: 'knock_component_up', help: '1 when a component is reachable', labelNames: ['component'] as const, registers: [registry] });

  const unsubscribe = events.subscribe((e) => {
    if (e.type === 'request.changed') transitions.inc({ state: e.state });
  });

  const httpMiddleware: RequestHandler = (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      // The OpenAPI path template, not the raw URL, keeps label cardinality bounded; unlike
      // express's matched route it is the same whether the route answered or an error handler
      // did (where req.baseUrl is already gone).
      const route = routeTemplate(req.method, req.originalUrl.split('?')[0]!) ?? 'unmatched';
      requests.inc({ method: req.method, route, status: String(res.statusCode) });
      end({ method: req.method, route });
    });
    next();
  };

  return {
    registry,
    httpMiddleware,
    setUp: (component, isUp) => up.set({ component }, isUp ? 1 : 0),
    stop: unsubscribe,
  };
}
