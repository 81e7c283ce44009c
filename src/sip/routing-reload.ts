/**
 * The routing in force, and its reload without a restart (what `reloadxml` is to FreeSWITCH).
 *
 * The routing is one immutable object, replaced by reference: whoever routes a call reads
 * `current()` once and keeps that object for the whole call (its overflow steps included), so a
 * reload never changes a call already being routed, and a half-read file is never seen. A reload
 * reads and checks the whole file first and swaps only when it has no problem; on any problem the
 * old routing stays in force and the problems come back with their `file:line:column`.
 *
 * Reloads run one at a time (a SIGHUP and an API call at once do not interleave), each is logged
 * once and audited (`routing.reload`) with what changed, and the version in force (a hash of the
 * file's bytes and when it was loaded) is shown by `/readyz` and the metrics.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FlowDeps } from '../flows/ports.js';
import { missingDirectoryReferences, parseRoutingConfig, RoutingConfigError, type RoutingConfig } from './routing-config.js';

export interface ActiveRouting {
  readonly routing: RoutingConfig;
  /** The first 16 hex digits of the SHA-256 of the file's bytes: equal files, equal versions. */
  readonly version: string;
  readonly loadedAt: Date;
}

/** What a reload changed, by key: numbers under extensions, group ids, feature codes. */
export interface RoutingChanges {
  extensions: { added: string[]; removed: string[]; changed: string[] };
  groups: { added: string[]; removed: string[]; changed: string[] };
  featureCodes: { added: string[]; removed: string[]; changed: string[] };
}

export interface ReloadTrigger {
  /** Who asked, as the audit log names actors: `agent:<id>`, `apikey:<name>`, `signal:SIGHUP`, `cluster:<instance>`. */
  actor: string;
  how: 'api' | 'signal' | 'cluster';
  /** For `cluster`: the instance the reload was asked on. */
  origin?: string;
}

export type ReloadOutcome =
  | { status: 'reloaded' | 'unchanged'; active: ActiveRouting; previousVersion: string; changes: RoutingChanges; warnings: string[] }
  | { status: 'refused'; active: ActiveRouting; problems: string[] };

export interface RoutingHolder {
  /** The routing in force. Read it once per call and keep the object. */
  current(): ActiveRouting;
  /** Reads the file again; swaps only when it is valid. Never throws for a bad file. */
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome>;
}

/** The routing file's text, checked: the same problems, with positions, as at start-up. */
export async function readRoutingFile(path: string, displayName: string): Promise<{ routing: RoutingConfig; version: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new RoutingConfigError([`${displayName}: cannot read the routing file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  const routing = parseRoutingConfig(bytes.toString('utf8'), displayName);
  return { routing, version: routingVersion(bytes) };
}

export function routingVersion(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

function diffKeys<T>(before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>) {
  const same = (a: T, b: T) => JSON.stringify(a) === JSON.stringify(b);
  return {
    added: [...after.keys()].filter((k) => !before.has(k)).sort(),
    removed: [...before.keys()].filter((k) => !after.has(k)).sort(),
    changed: [...after.keys()].filter((k) => before.has(k) && !same(before.get(k)!, after.get(k)!)).sort(),
  };
}

export function diffRouting(before: RoutingConfig, after: RoutingConfig): RoutingChanges {
  const codes = (r: RoutingConfig) => new Map(r.featureCodes.map((f) => [f.code, f]));
  return {
    extensions: diffKeys(before.extensions, after.extensions),
    groups: diffKeys(before.groups, after.groups),
    featureCodes: diffKeys(codes(before), codes(after)),
  };
}

/** "2 numbers added (2001, 2002), 1 removed (2100); 1 group changed (support)" for logs and audit. */
export function describeChanges(c: RoutingChanges): string {
  const part = (what: [string, string], d: RoutingChanges['extensions']) => {
    const bits = (['added', 'removed', 'changed'] as const)
      .filter((k) => d[k].length > 0)
      .map((k) => `${d[k].length} ${k} (${d[k].slice(0, 10).join(', ')}${d[k].length > 10 ? ', …' : ''})`);
    if (bits.length === 0) return null;
    const n = d.added.length + d.removed.length + d.changed.length;
    return `${n === 1 ? what[0] : what[1]}: ${bits.join(', ')}`;
  };
  const parts = [part(['number', 'numbers'], c.extensions), part(['group', 'groups'], c.groups), part(['feature code', 'feature codes'], c.featureCodes)].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'no change';
}

/** The audit entry keeps counts and the first keys of each list: a file of thousands stays small. */
function capChanges(c: RoutingChanges, max = 100): Record<string, Record<string, string[] | number>> {
  const cap = (d: RoutingChanges['extensions']) =>
    Object.fromEntries((['added', 'removed', 'changed'] as const).flatMap((k) => (d[k].length > max ? [[k, d[k].slice(0, max)], [`${k}Count`, d[k].length]] : [[k, d[k]]])));
  return { extensions: cap(c.extensions), groups: cap(c.groups), featureCodes: cap(c.featureCodes) };
}

export interface RoutingHolderOptions {
  deps: FlowDeps;
  logger: Logger;
  /** The file to read (resolved) and the name problems give (as configured). */
  path: string;
  displayName: string;
  initial: { routing: RoutingConfig; version: string };
  /** This process, named in the audit entries of its reloads. */
  instanceName: string;
  registry?: Registry;
}

export function createRoutingHolder(opts: RoutingHolderOptions): RoutingHolder {
  const { deps } = opts;
  const log = opts.logger.child({ component: 'routing' });
  let active: ActiveRouting = Object.freeze({ ...opts.initial, loadedAt: deps.clock() });
  // One reload at a time: the next starts when the previous has swapped (or refused).
  let queue: Promise<unknown> = Promise.resolve();

  const info = opts.registry
    ? new Gauge({ name: 'knock_routing_info', help: 'The routing file in force (value 1): its version and file', labelNames: ['version', 'file'] as const, registers: [opts.registry] })
    : null;
  const loadedAt = opts.registry
    ? new Gauge({ name: 'knock_routing_loaded_timestamp_seconds', help: 'When the routing in force was loaded (Unix time)', registers: [opts.registry] })
    : null;
  const reloads = opts.registry
    ? new Counter({ name: 'knock_routing_reloads_total', help: 'Routing reloads by result (reloaded, unchanged, refused)', labelNames: ['result'] as const, registers: [opts.registry] })
    : null;
  const showMetrics = () => {
    info?.reset();
    info?.set({ version: active.version, file: active.routing.file }, 1);
    loadedAt?.set(active.loadedAt.getTime() / 1000);
  };
  showMetrics();

  const audit = (trigger: ReloadTrigger, decision: 'allow' | 'deny', reason: string, data: Record<string, unknown>) =>
    deps.store.audit
      .append({ actor: trigger.actor, action: 'routing.reload', subject: `routing:${opts.displayName}`, decision, reason, data: { instance: opts.instanceName, how: trigger.how, ...(trigger.origin ? { origin: trigger.origin } : {}), ...data } })
      .catch((e: unknown) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'routing reload not audited'));

  async function reloadNow(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    const before = active;
    let next: { routing: RoutingConfig; version: string };
    try {
      next = await readRoutingFile(opts.path, opts.displayName);
    } catch (e) {
      if (!(e instanceof RoutingConfigError)) throw e;
      reloads?.inc({ result: 'refused' });
      log.warn({ actor: trigger.actor, how: trigger.how, version: before.version, problems: e.problems }, 'routing reload refused; the routing in force is unchanged');
      await audit(trigger, 'deny', `the file has ${e.problems.length} problem(s); version ${before.version} stays in force`, { version: before.version, problems: e.problems.slice(0, 50) });
      return { status: 'refused', active: before, problems: e.problems };
    }
    const changes = diffRouting(before.routing, next.routing);
    const warnings = await missingDirectoryReferences(next.routing, {
      agent: async (u) => (await deps.store.agents.getByUsername(u)) !== null,
      group: async (g) => (await deps.store.groups.get(g)) !== null,
    }).catch(() => [] as string[]);
    if (next.version === before.version) {
      reloads?.inc({ result: 'unchanged' });
      log.info({ actor: trigger.actor, how: trigger.how, version: before.version }, 'routing reload: the file is unchanged');
      if (trigger.how !== 'cluster') await audit(trigger, 'allow', `unchanged: version ${before.version}`, { version: before.version, previousVersion: before.version });
      return { status: 'unchanged', active: before, previousVersion: before.version, changes, warnings };
    }
    // The swap: one assignment. Calls already routed keep the object they read.
    active = Object.freeze({ routing: next.routing, version: next.version, loadedAt: deps.clock() });
    showMetrics();
    reloads?.inc({ result: 'reloaded' });
    const summary = describeChanges(changes);
    log.info({ actor: trigger.actor, how: trigger.how, version: active.version, previousVersion: before.version, changes: summary, warnings }, 'routing reloaded');
    await audit(trigger, 'allow', `version ${before.version} -> ${active.version}: ${summary}`, {
      version: active.version,
      previousVersion: before.version,
      extensions: active.routing.extensions.size,
      groups: active.routing.groups.size,
      featureCodes: active.routing.featureCodes.length,
      changes: capChanges(changes),
    });
    return { status: 'reloaded', active, previousVersion: before.version, changes, warnings };
  }

  return {
    current: () => active,
    reload(trigger) {
      const run = queue.then(() => reloadNow(trigger));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
