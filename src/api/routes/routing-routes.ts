/**
 * Routing for engineers (admin): the routing file in force on this instance, and its reload on
 * every instance without a restart. The reload itself (check first, swap by reference, audit,
 * tell the other instances) is the SIP side's (src/sip/routing-reload.ts, routing-cluster.ts);
 * this only speaks HTTP.
 */
import { Router } from 'express';
import { AppError } from '../../domain/errors.js';
import type { FlowDeps } from '../../flows/ports.js';
import { principalOf, requireStaff, wrap } from '../auth.js';
import { noStore } from '../security-headers.js';

export interface RoutingVersion {
  version: string;
  loadedAt: string;
  file: string;
  extensions: number;
  groups: number;
  featureCodes: string[];
}

type Changes = { added: string[]; removed: string[]; changed: string[] };

export interface RoutingAdmin {
  instance: string;
  active(): RoutingVersion;
  reload(actor: string): Promise<
    | {
        status: 'reloaded' | 'unchanged';
        active: RoutingVersion;
        previousVersion: string;
        changes: { extensions: Changes; groups: Changes; featureCodes: Changes };
        summary: string;
        warnings: string[];
        instances: Array<{ instance: string; status: string; version: string; loadedAt: string; problems?: string[] }>;
        notAnswered: string[];
      }
    | { status: 'refused'; active: RoutingVersion; problems: string[] }
  >;
}

export function routingRoutes(deps: FlowDeps, routing: RoutingAdmin | null): Router {
  const r = Router();
  const admin = requireStaff(deps, 'admin');
  const need = (): RoutingAdmin => {
    if (!routing) throw new AppError('conflict', 'This instance does not route calls (sip.enabled is off); ask an instance that does.');
    return routing;
  };

  r.get('/routing', admin, noStore, wrap(async (_req, res) => {
    const x = need();
    res.json({ instance: x.instance, ...x.active() });
  }));
  r.post('/routing/reload', admin, noStore, wrap(async (_req, res) => {
    const x = need();
    const outcome = await x.reload(principalOf(res).actor);
    if (outcome.status === 'refused') {
      throw new AppError(
        'routing_invalid',
        `The routing file has ${outcome.problems.length} problem(s); version ${outcome.active.version} stays in force on every instance.`,
        { problems: outcome.problems, instance: x.instance, active: outcome.active },
      );
    }
    res.json({ instance: x.instance, ...outcome });
  }));
  return r;
}
