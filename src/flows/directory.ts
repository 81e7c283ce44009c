/**
 * Who is who: agents (console login, SIP credentials kept as HA1 only), integrations (API keys
 * with scopes), agent groups and customers. Used by the admin API, the CLI and the demo loader.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { isValidTimeZone, validateWeeklyHours } from '../domain/callback-schedule.js';
import { AppError } from '../domain/errors.js';
import type { Agent, AgentGroup, ApiKey, Availability, Customer } from '../domain/model.js';
import { hashPassword, sipHa1, sipHa1Sha256, verifyPassword } from '../security/passwords.js';
import { randomSecret, sha256Hex } from '../security/secrets.js';
import { loginLimit, reserveAttempt } from './attempt-limits.js';
import type { FlowDeps } from './ports.js';

export const API_SCOPES = ['requests:read', 'requests:write', 'directory:read', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface NewAgentInput {
  username: string;
  name: string;
  extension: string;
  password: string;
  groups: string[];
  role?: Agent['role'];
}

export async function createAgent(deps: Pick<FlowDeps, 'store' | 'config'>, input: NewAgentInput): Promise<Agent> {
  if (!/^[a-z0-9._-]{2,64}$/.test(input.username)) {
    throw new AppError('validation_failed', 'username: 2–64 characters of a-z, 0-9, ".", "_" or "-".');
  }
  if (!/^[0-9]{2,10}$/.test(input.extension)) throw new AppError('validation_failed', 'extension: 2–10 digits, e.g. "1001".');
  if (input.password.length < 10) throw new AppError('validation_failed', 'password: at least 10 characters.');
  for (const g of input.groups) {
    if (!(await deps.store.groups.get(g))) throw new AppError('validation_failed', `groups: no agent group "${g}".`);
  }
  if (await deps.store.agents.getByUsername(input.username)) throw new AppError('conflict', `An agent "${input.username}" already exists.`);
  if (await deps.store.agents.getByExtension(input.extension)) throw new AppError('conflict', `Extension ${input.extension} is already taken.`);
  const realm = deps.config.sip.domain;
  // The SIP user is the extension: that is what a desk phone registers as.
  return deps.store.agents.create({
    username: input.username,
    name: input.name,
    extension: input.extension,
    groups: input.groups,
    role: input.role ?? 'agent',
    secrets: {
      passwordHash: await hashPassword(input.password),
      sipHa1: sipHa1(input.extension, realm, input.password),
      sipHa1Sha256: sipHa1Sha256(input.extension, realm, input.password),
      sipRealm: realm,
    },
  });
}

// Unknown usernames are checked against this so the answer takes as long as for a real one.
let dummyHash: Promise<string> | null = null;

export async function loginAgent(
  deps: FlowDeps,
  username: string,
  password: string,
): Promise<{ token: string; expiresAt: Date; agent: Agent }> {
  const now = deps.clock();
  // Counted before the password is hashed, so parallel guesses cannot all be checked.
  const limit = loginLimit(deps);
  const key = /^[a-z0-9._-]{1,64}$/.test(username) ? username : `sha256:${sha256Hex(username)}`;
  await reserveAttempt(deps, {
    limit,
    key,
    audit: { actor: `login:${key}`, action: 'agent.login', subject: null, reason: `more than ${deps.config.auth.loginAttemptsPerMinute} sign-in attempts in a minute; refused unchecked` },
    message: 'Too many failed sign-ins; wait a minute and try again.',
  });
  let agent: Agent | null = null;
  let ok = false;
  let checked = false;
  try {
    agent = await deps.store.agents.getByUsername(username);
    const secrets = agent ? await deps.store.agents.secrets(agent.id) : null;
    dummyHash ??= hashPassword('no such agent, no such password');
    ok = (await verifyPassword(password, secrets?.passwordHash ?? (await dummyHash))) && agent !== null;
    checked = true;
  } finally {
    // A wrong password keeps its place; a right one clears the count. A check that never
    // answered (the database failed) gives its place back.
    await limit.endCheck(key, ok ? 'clear' : checked ? 'failed' : 'passed');
  }
  if (!agent || !ok) {
    await deps.store.audit.append({ actor: `login:${key}`, action: 'agent.login', subject: null, decision: 'deny', reason: 'wrong username or password', data: {} });
    throw new AppError('unauthenticated', 'Wrong username or password.');
  }
  const token = `agt_${randomSecret(32)}`;
  const expiresAt = new Date(now.getTime() + deps.config.auth.agentLoginHours * 3_600_000);
  await deps.store.agentLogins.create(sha256Hex(token), agent.id, expiresAt);
  await deps.store.audit.append({ actor: `agent:${agent.id}`, action: 'agent.login', subject: `agent:${agent.id}`, decision: 'allow', reason: 'password verified', data: {} });
  return { token, expiresAt, agent };
}

export async function authenticateAgentToken(deps: Pick<FlowDeps, 'store' | 'clock'>, token: string): Promise<Agent> {
  const agent = await deps.store.agentLogins.getAgent(sha256Hex(token), deps.clock());
  if (!agent) throw new AppError('unauthenticated', 'Your sign-in has expired; sign in again.');
  return agent;
}

export async function logoutAgent(deps: Pick<FlowDeps, 'store'>, token: string): Promise<void> {
  await deps.store.agentLogins.remove(sha256Hex(token));
}

export async function setAgentAvailability(deps: FlowDeps, agentId: string, availability: Availability): Promise<Agent> {
  const agent = await deps.store.agents.setAvailability(agentId, availability, deps.clock());
  if (!agent) throw new AppError('not_found', `No agent ${agentId}.`);
  deps.events.publish({ type: 'agent.changed', agentId, availability, at: deps.clock().toISOString() });
  return agent;
}

/**
 * Whether the agent's desk phone is registered now, and what to tell an agent who is available
 * without one: customer calls ring the desk phone, so they would reach nobody.
 */
export function deskPhoneStatus(deps: Pick<FlowDeps, 'config'>, agent: Agent, phone: 'registered' | 'unreachable' | 'none'): { deskPhoneRegistered: boolean; warning: string | null } {
  const registered = phone === 'registered';
  const where = `sip:${agent.extension}@${deps.config.sip.domain}`;
  const warning =
    agent.availability !== 'available' || registered
      ? null
      : phone === 'unreachable'
        ? `The desk phone of extension ${agent.extension} cannot be reached, so customer calls cannot reach you. Check the phone (it registers as ${where}), or choose Away.`
        : `No desk phone is registered for extension ${agent.extension}, so customer calls cannot reach you. Register your desk phone as ${where}, or choose Away.`;
  return { deskPhoneRegistered: registered, warning };
}

export async function createApiKey(deps: Pick<FlowDeps, 'store'>, name: string, scopes: string[]): Promise<{ key: string; apiKey: ApiKey }> {
  const bad = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
  if (bad.length) throw new AppError('validation_failed', `Unknown scopes: ${bad.join(', ')}. Known: ${API_SCOPES.join(', ')}.`);
  const key = `knk_${randomSecret(32)}`;
  const apiKey = await deps.store.apiKeys.create(name, scopes, sha256Hex(key));
  return { key, apiKey };
}

export async function authenticateApiKey(deps: Pick<FlowDeps, 'store'>, key: string): Promise<ApiKey> {
  const apiKey = await deps.store.apiKeys.getByHash(sha256Hex(key));
  if (!apiKey) throw new AppError('unauthenticated', 'Unknown or revoked API key.');
  return apiKey;
}

export interface NewCustomerInput {
  name: string;
  phone: string | null;
  timeZone: string | null;
  externalRef: string | null;
}

/** Phone numbers must be E.164 ("+447700900123") of a possible length for their country: SMS providers and SIP both need it. */
export function normalisePhone(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone);
  if (!parsed || !parsed.isPossible() || !phone.startsWith('+')) {
    throw new AppError('validation_failed', `phone: "${phone}" is not a valid international number in E.164 form, e.g. +447700900123.`);
  }
  return parsed.number;
}

export async function createCustomer(deps: Pick<FlowDeps, 'store' | 'config'>, input: NewCustomerInput): Promise<Customer> {
  const timeZone = input.timeZone ?? deps.config.scheduling.defaultTimeZone;
  if (!isValidTimeZone(timeZone)) throw new AppError('validation_failed', `timeZone: "${timeZone}" is not an IANA time zone, e.g. Europe/Paris.`);
  if (!input.name.trim()) throw new AppError('validation_failed', 'name: required.');
  return deps.store.customers.create({
    name: input.name.trim(),
    phoneE164: input.phone ? normalisePhone(input.phone) : null,
    timeZone,
    externalRef: input.externalRef,
  });
}

export async function saveGroup(deps: Pick<FlowDeps, 'store' | 'config'>, group: AgentGroup): Promise<AgentGroup> {
  if (!/^[a-z0-9-]{2,40}$/.test(group.id)) throw new AppError('validation_failed', 'id: 2–40 characters of a-z, 0-9 or "-".');
  if (!isValidTimeZone(group.timeZone)) throw new AppError('validation_failed', `timeZone: "${group.timeZone}" is not an IANA time zone.`);
  validateWeeklyHours(group.businessHours);
  if (group.slotCapacity !== null && group.slotCapacity < 1) throw new AppError('validation_failed', 'slotCapacity: at least 1, or null for unlimited.');
  return deps.store.groups.upsert(group);
}
