/**
 * A routing reload on every instance (Kamailio's `dispatcher.reload`, cluster-wide): the instance
 * asked reloads its own file first; only when that succeeded does it tell the others, over
 * PostgreSQL LISTEN/NOTIFY (store/pg-notify.ts), and each of them reloads its own file (each host
 * has its own copy, as each has its own configuration) and answers with the version it now runs.
 * The instance asked waits a moment for the live instances' answers (those with a heartbeat in
 * `service_instances`) and reports them; an instance that misses the notification (its database
 * connection was down) reloads when its connection comes back.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { createPgNotify, type PgNotify } from '../store/pg-notify.js';
import { describeChanges, type ReloadOutcome, type ReloadTrigger, type RoutingHolder } from './routing-reload.js';

const RELOAD = 'knock_routing_reload';
const RELOADED = 'knock_routing_reloaded';

/** What another instance answered. */
export interface InstanceReload {
  instance: string;
  status: 'reloaded' | 'unchanged' | 'refused';
  version: string;
  loadedAt: string;
  /** When refused: the first problems of its file (it keeps its routing). */
  problems?: string[];
}

export interface ClusterReload {
  local: ReloadOutcome;
  others: InstanceReload[];
  /** Live instances that did not answer in time (they may still reload). */
  notAnswered: string[];
}

export interface RoutingCluster {
  start(): Promise<void>;
  /** Reloads here; when that worked, on every other instance too. */
  reloadEverywhere(trigger: ReloadTrigger): Promise<ClusterReload>;
  stop(): Promise<void>;
}

export interface RoutingClusterOptions {
  holder: RoutingHolder;
  store: Store;
  instance: { id: string; name: string };
  logger: Logger;
  /** An instance silent longer than this is not waited for (calls.instanceDeadSeconds). */
  instanceDeadSeconds: number;
  /** How long the instance asked waits for the others' answers. */
  replyWaitMs?: number;
}

interface ReloadMessage {
  requestId: string;
  origin: string;
  originName: string;
  actor: string;
}

interface ReloadedMessage extends InstanceReload {
  requestId: string;
  id: string;
}

export function createRoutingCluster(opts: RoutingClusterOptions): RoutingCluster {
  const log = opts.logger.child({ component: 'routing-cluster' });
  const waiting = new Map<string, (m: ReloadedMessage) => void>();

  const handlers = {
    onNotification(channel: string, payload: unknown) {
      if (channel === RELOAD) void onReloadAsked(payload as ReloadMessage);
      else if (channel === RELOADED) {
        const m = payload as ReloadedMessage;
        if (m && typeof m.requestId === 'string') waiting.get(m.requestId)?.(m);
      }
    },
    // Notifications sent while the connection was down are lost: read the file again (a file that
    // did not change is a no-op, and is not audited).
    onReconnect() {
      opts.holder.reload({ actor: 'cluster:reconnect', how: 'cluster' }).catch((e: unknown) => log.error({ err: String(e) }, 'routing catch-up reload failed'));
    },
  };
  const bus: PgNotify = createPgNotify({ url: opts.store.url, channels: [RELOAD, RELOADED], logger: opts.logger, ...handlers });

  async function onReloadAsked(m: ReloadMessage) {
    if (!m || typeof m.requestId !== 'string' || m.origin === opts.instance.id) return;
    try {
      const outcome = await opts.holder.reload({ actor: typeof m.actor === 'string' ? m.actor : 'cluster', how: 'cluster', origin: String(m.originName) });
      const answer: ReloadedMessage = {
        requestId: m.requestId,
        id: opts.instance.id,
        instance: opts.instance.name,
        status: outcome.status,
        version: outcome.active.version,
        loadedAt: outcome.active.loadedAt.toISOString(),
        ...(outcome.status === 'refused' ? { problems: outcome.problems.slice(0, 20) } : {}),
      };
      await bus.send(RELOADED, answer);
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'routing reload asked by another instance failed');
    }
  }

  return {
    start: () => bus.start(),
    async reloadEverywhere(trigger) {
      const local = await opts.holder.reload(trigger);
      if (local.status === 'refused') return { local, others: [], notAnswered: [] };
      const expected = new Map(
        (await opts.store.instances.alive(opts.instanceDeadSeconds)).filter((i) => i.id !== opts.instance.id).map((i) => [i.id, i.name] as const),
      );
      const requestId = randomUUID();
      const answers = new Map<string, InstanceReload>();
      const allIn = new Promise<void>((done) => {
        const timer = setTimeout(done, opts.replyWaitMs ?? 3_000);
        waiting.set(requestId, (m) => {
          answers.set(m.id, { instance: m.instance, status: m.status, version: m.version, loadedAt: m.loadedAt, ...(m.problems ? { problems: m.problems } : {}) });
          if ([...expected.keys()].every((id) => answers.has(id))) {
            clearTimeout(timer);
            done();
          }
        });
      });
      try {
        const ask: ReloadMessage = { requestId, origin: opts.instance.id, originName: opts.instance.name, actor: trigger.actor };
        try {
          await bus.send(RELOAD, ask);
          if (expected.size > 0) await allIn;
        } catch (e) {
          // This instance has reloaded; the others catch up when they next reload or reconnect.
          log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not tell the other instances to reload routing');
        }
      } finally {
        waiting.delete(requestId);
      }
      return {
        local,
        others: [...answers.values()].sort((a, b) => a.instance.localeCompare(b.instance)),
        notAnswered: [...expected].filter(([id]) => !answers.has(id)).map(([, name]) => name).sort(),
      };
    },
    stop: () => bus.stop(),
  };
}

/** The routing in force, as the API and `/readyz` show it. */
export interface RoutingVersionView {
  version: string;
  loadedAt: string;
  file: string;
  extensions: number;
  groups: number;
  featureCodes: string[];
}

export function routingVersionView(holder: Pick<RoutingHolder, 'current'>): RoutingVersionView {
  const { routing, version, loadedAt } = holder.current();
  return {
    version,
    loadedAt: loadedAt.toISOString(),
    file: routing.file,
    extensions: routing.extensions.size,
    groups: routing.groups.size,
    featureCodes: routing.featureCodes.map((f) => f.code).sort(),
  };
}

/** The admin API's view of the reload (routes/routing-routes.ts): plain data, times as text. */
export function routingAdmin(holder: RoutingHolder, cluster: RoutingCluster, instanceName: string) {
  return {
    instance: instanceName,
    active: () => routingVersionView(holder),
    async reload(actor: string) {
      const { local, others, notAnswered } = await cluster.reloadEverywhere({ actor, how: 'api' });
      const active = routingVersionView({ current: () => local.active });
      if (local.status === 'refused') return { status: 'refused' as const, active, problems: local.problems };
      return {
        status: local.status,
        active,
        previousVersion: local.previousVersion,
        changes: local.changes,
        summary: describeChanges(local.changes),
        warnings: local.warnings,
        instances: others,
        notAnswered,
      };
    },
  };
}
