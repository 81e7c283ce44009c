/**
 * The routing file (config/routing.yaml) that telecom engineers edit: numbers desk phones can
 * dial, how agent groups ring, business hours, overflow, and feature codes. Parsed and checked
 * once at start-up; every mistake is reported as `file:line:column: path: message`, all at once,
 * so a bad file never half-applies.
 */
import { readFileSync } from 'node:fs';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { isValidTimeZone, parseRange, type Hours } from '../domain/callback-schedule.js';
import { AppError } from '../domain/errors.js';
import type { WeeklyHours } from '../domain/model.js';

export const RING_STRATEGIES = ['longest_idle', 'in_order', 'ring_all'] as const;
export type RingStrategy = (typeof RING_STRATEGIES)[number];

export type ExtensionTarget =
  /** Rings the members of a routing group by its strategy. */
  | { kind: 'group'; group: string }
  /** Rings one agent's registered desk phones (agent username in the directory). */
  | { kind: 'agent'; agent: string }
  /** A fixed SIP URI (a gateway, a conference bridge, a door phone). */
  | { kind: 'uri'; uri: string };

export interface ExtensionRoute {
  number: string;
  name: string | null;
  target: ExtensionTarget;
  /** Number dialled next when nobody answers (a listed extension). */
  overflow: string | null;
}

export interface GroupRoute {
  id: string;
  /** The agent group in the directory whose members ring. */
  directoryGroup: string;
  strategy: RingStrategy;
  /** How long each agent rings; null = sip.agentRingSeconds. */
  ringSeconds: number | null;
  /** 'directory' = the directory group's own time zone and hours. */
  hours: 'directory' | Hours;
  /** Number dialled when no member answers; null = the call fails with 480. */
  overflow: string | null;
  /** Number dialled outside business hours; null = the call fails with 480. */
  closed: string | null;
}

export type FeatureCode =
  | { code: string; action: 'knock'; reason: string; defaultCountry: CountryCode | null }
  | { code: string; action: 'next_callback' };

/** A name the file uses that lives in the directory (checked against the database at start-up). */
export interface DirectoryReference {
  kind: 'agent' | 'group';
  value: string;
  where: string; // "file:line:col: path"
}

export interface RoutingConfig {
  file: string;
  extensions: ReadonlyMap<string, ExtensionRoute>;
  groups: ReadonlyMap<string, GroupRoute>;
  /** Longest code first, so "*881" is tried before "*88". */
  featureCodes: readonly FeatureCode[];
  directoryReferences: readonly DirectoryReference[];
}

export class RoutingConfigError extends AppError {
  constructor(readonly problems: string[]) {
    super('validation_failed', `The routing file has ${problems.length} problem(s):\n${problems.join('\n')}`, { problems });
  }
}

const NUMBER = /^[0-9]{2,15}$/;
const FEATURE_CODE = /^\*[0-9]{1,4}$/;
const GROUP_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

interface Walker {
  problem(node: Node | null | undefined, path: string, message: string): void;
  where(node: Node | null | undefined, path: string): string;
}

function scalarText(node: unknown): string | null {
  if (!isScalar(node)) return null;
  // The source text keeps what the engineer wrote ("0123" stays "0123", not 123).
  if (typeof node.source === 'string' && node.source !== '') return node.source;
  return node.value === null || node.value === undefined ? null : String(node.value);
}

function pairs(map: YAMLMap): Pair<Node, Node>[] {
  return map.items as Pair<Node, Node>[];
}

/** Reads a mapping's fields: known keys are handed out, unknown ones reported. */
function fields(w: Walker, map: YAMLMap, path: string, allowed: readonly string[]): Map<string, { key: Node; value: Node | null }> {
  const out = new Map<string, { key: Node; value: Node | null }>();
  for (const p of pairs(map)) {
    const name = scalarText(p.key) ?? '';
    if (!allowed.includes(name)) {
      w.problem(p.key, `${path}.${name}`, `unknown key (expected one of: ${allowed.join(', ')})`);
      continue;
    }
    out.set(name, { key: p.key, value: p.value ?? null });
  }
  return out;
}

function stringField(w: Walker, f: { key: Node; value: Node | null } | undefined, path: string, check?: (s: string) => string | null): string | null {
  if (!f) return null;
  const text = isScalar(f.value) && f.value.value !== null ? String(f.value.value) : null;
  if (text === null || text === '') {
    w.problem(f.key, path, 'must be a non-empty text');
    return null;
  }
  const err = check?.(text);
  if (err) {
    w.problem(f.key, path, err);
    return null;
  }
  return text;
}

export function parseRoutingConfig(text: string, file: string): RoutingConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const problems: string[] = [];
  const pos = (node: Node | null | undefined) => {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = lc.linePos(offset);
    return `${file}:${Math.max(line, 1)}:${Math.max(col, 1)}`;
  };
  const w: Walker = {
    problem: (node, path, message) => problems.push(`${pos(node)}: ${path}: ${message}`),
    where: (node, path) => `${pos(node)}: ${path}`,
  };
  for (const e of doc.errors) {
    const { line, col } = lc.linePos(e.pos[0]);
    problems.push(`${file}:${Math.max(line, 1)}:${Math.max(col, 1)}: YAML: ${e.message.split('\n')[0]}`);
  }
  if (problems.length > 0) throw new RoutingConfigError(problems);

  const extensions = new Map<string, ExtensionRoute>();
  const groups = new Map<string, GroupRoute>();
  const featureCodes: FeatureCode[] = [];
  const directoryReferences: DirectoryReference[] = [];
  // Number references are checked once every extension is known.
  const numberRefs: Array<{ node: Node; path: string; value: string }> = [];

  const root = doc.contents;
  if (!isMap(root)) {
    w.problem(root as Node, '(file)', 'must be a mapping with extensions, groups and featureCodes');
    throw new RoutingConfigError(problems);
  }
  const top = fields(w, root, '(file)', ['extensions', 'groups', 'featureCodes']);

  // groups first: extensions refer to them.
  const groupsNode = top.get('groups');
  if (groupsNode && groupsNode.value !== null) {
    if (!isMap(groupsNode.value)) w.problem(groupsNode.key, 'groups', 'must be a mapping of group id to settings');
    else {
      for (const p of pairs(groupsNode.value)) {
        const id = scalarText(p.key) ?? '';
        const path = `groups.${id}`;
        if (!GROUP_ID.test(id)) {
          w.problem(p.key, path, 'a group id is 1–64 characters of a-z, 0-9, "_" or "-"');
          continue;
        }
        if (!isMap(p.value)) {
          w.problem(p.key, path, 'must be a mapping (strategy, ringSeconds, hours, overflow, closed)');
          continue;
        }
        const f = fields(w, p.value, path, ['directoryGroup', 'strategy', 'ringSeconds', 'hours', 'overflow', 'closed']);
        const directoryGroup = stringField(w, f.get('directoryGroup'), `${path}.directoryGroup`) ?? id;
        directoryReferences.push({ kind: 'group', value: directoryGroup, where: w.where(f.get('directoryGroup')?.key ?? p.key, path) });
        const strategy = (stringField(w, f.get('strategy'), `${path}.strategy`, (s) =>
          (RING_STRATEGIES as readonly string[]).includes(s) ? null : `must be one of ${RING_STRATEGIES.join(', ')}`,
        ) ?? 'longest_idle') as RingStrategy;
        let ringSeconds: number | null = null;
        const rs = f.get('ringSeconds');
        if (rs) {
          const v = isScalar(rs.value) ? rs.value.value : null;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 3 || v > 300) w.problem(rs.key, `${path}.ringSeconds`, 'must be a whole number of seconds from 3 to 300');
          else ringSeconds = v;
        }
        const hours = parseHours(w, f.get('hours'), `${path}.hours`);
        const targets = { overflow: null as string | null, closed: null as string | null };
        for (const k of ['overflow', 'closed'] as const) {
          const n = f.get(k);
          targets[k] = stringField(w, n, `${path}.${k}`);
          if (n && targets[k]) numberRefs.push({ node: n.key, path: `${path}.${k}`, value: targets[k] });
        }
        groups.set(id, { id, directoryGroup, strategy, ringSeconds, hours, ...targets });
      }
    }
  }

  const extNode = top.get('extensions');
  if (extNode && extNode.value !== null) {
    if (!isMap(extNode.value)) w.problem(extNode.key, 'extensions', 'must be a mapping of number to target');
    else {
      for (const p of pairs(extNode.value)) {
        const number = scalarText(p.key) ?? '';
        const path = `extensions.${number}`;
        if (!NUMBER.test(number)) {
          w.problem(p.key, path, 'a number is 2–15 digits (quote it to keep leading zeros: "0100")');
          continue;
        }
        if (!isMap(p.value)) {
          w.problem(p.key, path, 'must be a mapping with one of group, agent or uri');
          continue;
        }
        const f = fields(w, p.value, path, ['name', 'group', 'agent', 'uri', 'overflow']);
        const kinds = (['group', 'agent', 'uri'] as const).filter((k) => f.has(k));
        if (kinds.length !== 1) {
          w.problem(p.key, path, kinds.length === 0 ? 'needs one of group, agent or uri' : `has both ${kinds.join(' and ')}; give exactly one`);
          continue;
        }
        const kind = kinds[0]!;
        const field = f.get(kind)!;
        let target: ExtensionTarget | null = null;
        if (kind === 'group') {
          const g = stringField(w, field, `${path}.group`, (s) => (groups.has(s) ? null : `no group '${s}' defined`));
          if (g) target = { kind: 'group', group: g };
        } else if (kind === 'agent') {
          const a = stringField(w, field, `${path}.agent`);
          if (a) {
            target = { kind: 'agent', agent: a };
            directoryReferences.push({ kind: 'agent', value: a, where: w.where(field.key, `${path}.agent`) });
          }
        } else {
          const u = stringField(w, field, `${path}.uri`, (s) => (/^sips?:[^\s]+$/.test(s) ? null : 'must be a SIP URI, e.g. sip:conference@127.0.0.1:5080'));
          if (u) target = { kind: 'uri', uri: u };
        }
        const name = stringField(w, f.get('name'), `${path}.name`);
        const overflowField = f.get('overflow');
        const overflow = stringField(w, overflowField, `${path}.overflow`);
        if (overflowField && overflow) numberRefs.push({ node: overflowField.key, path: `${path}.overflow`, value: overflow });
        if (target) extensions.set(number, { number, name, target, overflow });
      }
    }
  }

  for (const ref of numberRefs) {
    if (!extensions.has(ref.value)) w.problem(ref.node, ref.path, `no extension '${ref.value}' defined under extensions`);
  }
  findOverflowLoops(w, extensions, groups, root);

  const fcNode = top.get('featureCodes');
  if (fcNode && fcNode.value !== null) {
    if (!isMap(fcNode.value)) w.problem(fcNode.key, 'featureCodes', 'must be a mapping of code to action');
    else {
      for (const p of pairs(fcNode.value)) {
        const code = scalarText(p.key) ?? '';
        const path = `featureCodes.${code}`;
        if (!FEATURE_CODE.test(code)) {
          w.problem(p.key, path, 'a feature code is "*" and 1–4 digits, e.g. "*88" (quote it: YAML reads a bare * as an alias)');
          continue;
        }
        if (!isMap(p.value)) {
          w.problem(p.key, path, 'must be a mapping with an action');
          continue;
        }
        const f = fields(w, p.value, path, ['action', 'reason', 'defaultCountry']);
        const action = stringField(w, f.get('action'), `${path}.action`, (s) => (s === 'knock' || s === 'next_callback' ? null : 'must be knock or next_callback'));
        if (!f.has('action')) w.problem(p.key, path, 'needs an action (knock or next_callback)');
        if (action === 'knock') {
          const reason = stringField(w, f.get('reason'), `${path}.reason`, (s) => (s.length <= 200 ? null : 'at most 200 characters')) ?? 'Your adviser would like to talk to you';
          const dc = stringField(w, f.get('defaultCountry'), `${path}.defaultCountry`, (s) => (isSupportedCountry(s) ? null : 'must be an ISO 3166 country code such as GB or US'));
          featureCodes.push({ code, action: 'knock', reason, defaultCountry: (dc as CountryCode | null) ?? null });
        } else if (action === 'next_callback') {
          for (const k of ['reason', 'defaultCountry']) if (f.has(k)) w.problem(f.get(k)!.key, `${path}.${k}`, 'only applies to knock');
          featureCodes.push({ code, action: 'next_callback' });
        }
      }
    }
  }

  if (problems.length > 0) throw new RoutingConfigError(sortByPosition(problems));
  featureCodes.sort((a, b) => b.code.length - a.code.length);
  return { file, extensions, groups, featureCodes, directoryReferences };
}

/** Problems in file order, so the engineer can fix them top to bottom. */
function sortByPosition(problems: string[]): string[] {
  const key = (p: string) => {
    const m = /:(\d+):(\d+):/.exec(p);
    return m ? Number(m[1]) * 100_000 + Number(m[2]) : 0;
  };
  return [...problems].sort((a, b) => key(a) - key(b));
}

function parseHours(w: Walker, f: { key: Node; value: Node | null } | undefined, path: string): 'directory' | Hours {
  if (!f) return 'directory';
  if (isScalar(f.value)) {
    if (f.value.value === 'directory') return 'directory';
    w.problem(f.key, path, "must be 'directory' or a mapping with timeZone and weekly");
    return 'directory';
  }
  if (!isMap(f.value)) {
    w.problem(f.key, path, "must be 'directory' or a mapping with timeZone and weekly");
    return 'directory';
  }
  const h = fields(w, f.value, path, ['timeZone', 'weekly']);
  const timeZone = stringField(w, h.get('timeZone'), `${path}.timeZone`, (s) => (isValidTimeZone(s) ? null : `'${s}' is not an IANA time zone (e.g. Europe/London)`));
  if (!h.has('timeZone')) w.problem(f.key, path, 'needs a timeZone');
  const weekly: WeeklyHours = {};
  const wk = h.get('weekly');
  if (!wk) w.problem(f.key, path, 'needs a weekly table (ISO weekday 1–7 -> ["HH:MM-HH:MM", …])');
  else if (!isMap(wk.value)) w.problem(wk.key, `${path}.weekly`, 'must map ISO weekdays 1–7 to lists of "HH:MM-HH:MM"');
  else {
    for (const p of pairs(wk.value)) {
      const day = scalarText(p.key) ?? '';
      const dpath = `${path}.weekly.${day}`;
      if (!/^[1-7]$/.test(day)) {
        w.problem(p.key, dpath, 'a day is an ISO weekday from 1 (Monday) to 7 (Sunday)');
        continue;
      }
      if (!isSeq(p.value)) {
        w.problem(p.key, dpath, 'must be a list of "HH:MM-HH:MM" ranges');
        continue;
      }
      const ranges: string[] = [];
      for (const item of p.value.items as Node[]) {
        const r = isScalar(item) ? String(item.value) : '';
        try {
          parseRange(r);
          ranges.push(r);
        } catch (e) {
          w.problem(item, dpath, (e as Error).message);
        }
      }
      weekly[day as keyof WeeklyHours] = ranges;
    }
  }
  return { timeZone: timeZone ?? 'UTC', weekly };
}

/** Overflow that comes back to where it started would ring forever. */
function findOverflowLoops(w: Walker, extensions: Map<string, ExtensionRoute>, groups: Map<string, GroupRoute>, root: YAMLMap) {
  const next = (number: string): string | null => {
    const ext = extensions.get(number);
    if (!ext) return null;
    if (ext.overflow) return ext.overflow;
    if (ext.target.kind === 'group') return groups.get(ext.target.group)?.overflow ?? null;
    return null;
  };
  const reported = new Set<string>();
  for (const start of extensions.keys()) {
    const chain = [start];
    let cur = next(start);
    while (cur && !chain.includes(cur)) {
      chain.push(cur);
      cur = next(cur);
    }
    if (cur && cur === start && !reported.has([...chain].sort().join(','))) {
      reported.add([...chain].sort().join(','));
      const extMap = root.get('extensions', true);
      const node = isMap(extMap) ? (pairs(extMap).find((p) => scalarText(p.key) === start)?.key ?? null) : null;
      w.problem(node, `extensions.${start}`, `overflow goes round in a loop: ${[...chain, start].join(' -> ')}`);
    }
  }
}

export function loadRoutingConfig(path: string, displayName = path): RoutingConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RoutingConfigError([`${displayName}: cannot read the routing file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  return parseRoutingConfig(text, displayName);
}

/** The feature code a dialled number starts with, and the digits after it. */
export function matchFeatureCode(routing: RoutingConfig, dialled: string): { feature: FeatureCode; rest: string } | null {
  for (const feature of routing.featureCodes) {
    if (dialled.startsWith(feature.code)) return { feature, rest: dialled.slice(feature.code.length) };
  }
  return null;
}

/**
 * Names the file takes from the directory that do not exist there (yet). Reported as warnings at
 * start-up: the directory changes at run time, so a missing name is not fatal.
 */
export async function missingDirectoryReferences(
  routing: RoutingConfig,
  exists: { agent(username: string): Promise<boolean>; group(id: string): Promise<boolean> },
): Promise<string[]> {
  const missing: string[] = [];
  for (const ref of routing.directoryReferences) {
    const ok = ref.kind === 'agent' ? await exists.agent(ref.value) : await exists.group(ref.value);
    if (!ok) missing.push(`${ref.where}: no ${ref.kind} '${ref.value}' in the directory`);
  }
  return missing;
}
