/** Health, readiness, metrics, the token verification keys and the API description. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type Request } from 'express';
import { AppError } from '../../domain/errors.js';
import type { KeyRing } from '../../security/signing-keys.js';
import type { Metrics } from '../metrics.js';
import { openApiDocument } from '../openapi.js';

/** A component the service depends on, as readiness reports it. */
export interface HealthCheck {
  name: string;
  /** Required components make the service unready when down; optional ones only show. */
  required: boolean;
  check(): Promise<boolean>;
}

/** Compares digests, so the time taken says nothing about how much of the token matched. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `/metrics` on the API port: only with `metrics.token` set, and only for a scraper sending it as
 * `Authorization: Bearer`; without a token the metrics are on the loopback listener alone.
 */
function checkMetricsToken(req: Request, token: string): void {
  if (!token) throw new AppError('not_found', `No such endpoint: ${req.method} ${req.path}.`);
  const given = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
  if (!given || !sameToken(given, token)) throw new AppError('unauthenticated', 'Metrics need the scrape token (Authorization: Bearer <metrics.token>).');
}

export function opsRoutes(args: {
  checks: HealthCheck[];
  metrics: Metrics;
  keyRing: KeyRing;
  version: string;
  metricsToken: string;
  /** The routing file in force (version, loaded at), shown by /readyz; null without SIP. */
  routing?: (() => { version: string; loadedAt: string }) | null;
}): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: args.version });
  });
  r.get('/readyz', async (_req, res) => {
    const components: Record<string, 'up' | 'down'> = {};
    let ready = true;
    await Promise.all(
      args.checks.map(async (c) => {
        const up = await c.check().catch(() => false);
        components[c.name] = up ? 'up' : 'down';
        args.metrics.setUp(c.name, up);
        if (!up && c.required) ready = false;
      }),
    );
    // Degraded: serving, but an optional component is down (no calls while SIP or media is).
    const degraded = Object.values(components).includes('down');
    const routing = args.routing ? (({ version, loadedAt }) => ({ version, loadedAt }))(args.routing()) : undefined;
    res.status(ready ? 200 : 503).json({ status: ready ? (degraded ? 'degraded' : 'ready') : 'unready', components, ...(routing ? { routing } : {}) });
  });
  r.get('/metrics', async (req, res) => {
    checkMetricsToken(req, args.metricsToken);
    res.type(args.metrics.registry.contentType).send(await args.metrics.registry.metrics());
  });
  r.get('/.well-known/jwks.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(args.keyRing.jwks());
  });
  r.get('/api/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  return r;
}
