/**
 * Loads config/default.yaml, layers an optional file named by KNOCK_CONFIG, then environment
 * variables, and validates the result. A bad value stops start-up with a message naming the key,
 * the value's source and what is expected.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { closedDateProblems, isValidTimeZone, validateWeeklyHours } from '../domain/callback-schedule.js';
import { isAppError } from '../domain/errors.js';
import { brandingProblems } from './branding.js';
import type { Config } from './config.js';
import { configSchema } from './config-schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const ENV_PREFIX = 'KNOCK_';
/** Short names operators expect from other services. */
const ALIASES: Record<string, string> = {
  DATABASE_URL: 'database.url',
  PORT: 'server.port',
  LOG_LEVEL: 'log.level',
};

/** Works from src/ (tsx) and dist/ (compiled): both sit one level below the project root. */
export function projectRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function defaultConfigPath(): string {
  return join(projectRoot(), 'config', 'default.yaml');
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTree(v) && isTree(out[k]) ? merge(out[k] as Tree, v) : v;
  }
  return out;
}

/** "ANSWER_TIME_LIMIT_SECONDS" -> "answerTimeLimitSeconds", matched against existing keys. */
function findKey(node: Tree, envPart: string): string | undefined {
  const flat = envPart.toLowerCase().replace(/_/g, '');
  return Object.keys(node).find((k) => k.toLowerCase() === flat);
}

/** Turns an environment string into the type the default has, so "300" stays a number. */
function coerce(raw: string, like: unknown, key: string): unknown {
  if (typeof like === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || Number.isNaN(n)) throw new ConfigError([`${key}: "${raw}" is not a number`]);
    return n;
  }
  if (typeof like === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    throw new ConfigError([`${key}: "${raw}" is not a boolean (true/false)`]);
  }
  if (Array.isArray(like) || isTree(like)) {
    try {
      return JSON.parse(raw);
    } catch {
      if (Array.isArray(like)) {
        const parts = raw.split(',').map((s) => s.trim()).filter(Boolean);
        return typeof like[0] === 'number' ? parts.map(Number) : parts;
      }
      throw new ConfigError([`${key}: expected JSON, got "${raw}"`]);
    }
  }
  return raw;
}

function applyEnv(tree: Tree, env: NodeJS.ProcessEnv): { tree: Tree; unknown: string[] } {
  const out = structuredClone(tree);
  const unknown: string[] = [];
  const set = (path: string[], raw: string, label: string) => {
    let node: Tree = out;
    for (let i = 0; i < path.length - 1; i++) {
      const next = node[path[i]!];
      if (!isTree(next)) return false;
      node = next;
    }
    const last = path[path.length - 1]!;
    node[last] = coerce(raw, node[last], label);
    return true;
  };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const alias = ALIASES[name];
    if (alias) {
      set(alias.split('.'), value, `${name} (${alias})`);
      continue;
    }
    if (!name.startsWith(ENV_PREFIX) || name === 'KNOCK_CONFIG') continue;
    const parts = name.slice(ENV_PREFIX.length).split('__');
    const path: string[] = [];
    let node: unknown = out;
    for (const part of parts) {
      const key = isTree(node) ? findKey(node, part) : undefined;
      if (!key) {
        path.length = 0;
        break;
      }
      path.push(key);
      node = (node as Tree)[key];
    }
    if (path.length === 0) unknown.push(name);
    else set(path, value, `${name} (${path.join('.')})`);
  }
  return { tree: out, unknown };
}

function semanticChecks(c: Config): string[] {
  const problems: string[] = [];
  if (c.tokens.lifetimeSeconds > 120) problems.push('tokens.lifetimeSeconds: must be at most 120 (tokens are short-lived)');
  for (const [key, zone] of [['scheduling.defaultTimeZone', c.scheduling.defaultTimeZone]] as const) {
    if (!isValidTimeZone(zone)) problems.push(`${key}: "${zone}" is not an IANA time zone (e.g. Europe/London)`);
  }
  try {
    validateWeeklyHours(c.scheduling.businessHours);
  } catch (e) {
    problems.push(`scheduling.businessHours: ${isAppError(e) ? e.message : String(e)}`);
  }
  for (const p of closedDateProblems(c.scheduling.closedDates)) problems.push(`scheduling.closedDates${p}`);
  for (const [group, dates] of Object.entries(c.scheduling.groupClosedDates)) {
    for (const p of closedDateProblems(dates)) problems.push(`scheduling.groupClosedDates.${group}${p}`);
  }
  if (c.sip.sessionTimer.expiresSeconds < c.sip.sessionTimer.minSeconds) {
    // RFC 4028 §4: the interval asked for can never be below the minimum this server accepts.
    problems.push(
      `sip.sessionTimer.expiresSeconds: ${c.sip.sessionTimer.expiresSeconds} is below sip.sessionTimer.minSeconds (${c.sip.sessionTimer.minSeconds}); raise expiresSeconds or lower minSeconds`,
    );
  }
  if (c.sip.subscriptions.minExpires > c.sip.subscriptions.maxExpires) {
    problems.push(`sip.subscriptions.minExpires: ${c.sip.subscriptions.minExpires} is above sip.subscriptions.maxExpires (${c.sip.subscriptions.maxExpires})`);
  }
  if (c.calls.instanceDeadSeconds < 3 * c.calls.reconcileSeconds) {
    // Every instance beats once per reconcile pass: a few missed beats, not one, make it dead.
    problems.push(
      `calls.instanceDeadSeconds: ${c.calls.instanceDeadSeconds} is under three heartbeats (calls.reconcileSeconds ${c.calls.reconcileSeconds}); raise it to at least ${3 * c.calls.reconcileSeconds}`,
    );
  }
  if (c.database.url && !/^postgres(ql)?:\/\//.test(c.database.url)) {
    problems.push('database.url: must be a postgres:// URL, or empty for the embedded database');
  }
  if (c.notify.sms.enabled && (!c.notify.sms.accountSid || !c.notify.sms.authToken || !c.notify.sms.from)) {
    problems.push('notify.sms: enabled, but accountSid, authToken and from must all be set');
  }
  for (const origin of c.notify.webpush.allowedEndpointOrigins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin.replace(/\/$/, '')) {
      problems.push(`notify.webpush.allowedEndpointOrigins: "${origin}" is not an origin (scheme://host[:port])`);
    }
  }
  if (Boolean(c.notify.webpush.publicKey) !== Boolean(c.notify.webpush.privateKey)) {
    problems.push('notify.webpush: set both publicKey and privateKey, or neither (then a pair is generated)');
  }
  problems.push(...brandingProblems(c.branding, projectRoot()));
  return problems;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaultsPath = defaultConfigPath()): Config {
  let tree = parseYaml(readFileSync(defaultsPath, 'utf8')) as Tree;
  if (env.KNOCK_CONFIG) {
    let extra: unknown;
    try {
      extra = parseYaml(readFileSync(env.KNOCK_CONFIG, 'utf8'));
    } catch (e) {
      throw new ConfigError([`KNOCK_CONFIG: cannot read ${env.KNOCK_CONFIG}: ${(e as Error).message}`]);
    }
    if (!isTree(extra)) throw new ConfigError([`KNOCK_CONFIG: ${env.KNOCK_CONFIG} must hold a YAML mapping`]);
    tree = merge(tree, extra);
  }
  const { tree: withEnv, unknown } = applyEnv(tree, env);
  const problems = unknown.map((n) => `${n}: no such configuration key`);

  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(configSchema);
  if (!validate(withEnv)) {
    for (const err of validate.errors ?? []) {
      const key = err.instancePath.slice(1).replace(/\//g, '.') || '(root)';
      const extraKey = err.params && 'additionalProperty' in err.params ? `.${String(err.params.additionalProperty)}` : '';
      // An enum names its choices, so the fix is in the message.
      const choices = err.params && 'allowedValues' in err.params ? ` (${(err.params.allowedValues as unknown[]).join(', ')})` : '';
      problems.push(`${key}${extraKey}: ${err.message ?? 'invalid'}${choices}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  const config = withEnv as unknown as Config;
  const more = semanticChecks(config);
  if (more.length) throw new ConfigError(more);
  return config;
}
