/**
 * The agent side of the API: sign-in, call requests (knock, list, cancel), scheduled callbacks,
 * queues, availability, live events; and the admin directory (agents, groups, customers, keys).
 */
import { Router, type Request, type Response } from 'express';
import { openLiveStream } from '../live-stream.js';
import { queueOrder } from '../../domain/agent-selection.js';

/** Requests someone is waiting on: the customer's answer, their call, or a callback that is due. */
const WAITING_STATES = ['notified', 'accepted', 'authenticated', 'due', 'prompted'] as const;
import { CALL_REQUEST_STATES, type CallRequestState } from '../../domain/call-request.js';
import type { Agent } from '../../domain/model.js';
import { AppError } from '../../domain/errors.js';
import {
  createAgent,
  createApiKey,
  createCustomer,
  deskPhoneStatus,
  loginAgent,
  logoutAgent,
  saveGroup,
  setAgentAvailability,
} from '../../flows/directory.js';
import { issueEnrollmentCode } from '../../flows/enrollment.js';
import { revokeApiKey, revokeDevice } from '../../flows/revocation.js';
import { cancelCallRequest, requestCall } from '../../flows/knock.js';
import { loadRequest } from '../../flows/move-request.js';
import type { FlowDeps } from '../../flows/ports.js';
import { principalOf, requireStaff, wrap } from '../auth.js';
import { requestFingerprint } from '../idempotency.js';
import { noStore } from '../security-headers.js';
import { validated } from '../validate.js';
import { agentView, customerView, deviceView, notificationView, requestView } from '../views.js';

function param(req: Request, name: string): string {
  const v = req.params[name];
  if (typeof v !== 'string' || !/^[0-9a-f-]{36}$/i.test(v)) throw new AppError('not_found', `No such ${name}.`);
  return v;
}

/** Agents act for themselves; integrations name the agent they act for. */
function actingAgentId(res: Response, bodyAgentId: unknown): string {
  const p = principalOf(res);
  if (p.kind === 'agent') {
    if (bodyAgentId && bodyAgentId !== p.agent.id && !p.scopes.has('admin')) {
      throw new AppError('forbidden', 'Agents can only request calls for themselves.');
    }
    return typeof bodyAgentId === 'string' ? bodyAgentId : p.agent.id;
  }
  if (typeof bodyAgentId !== 'string') throw new AppError('validation_failed', 'agentId: required when calling with an API key.');
  return bodyAgentId;
}

function requireAgentPrincipal(res: Response) {
  const p = principalOf(res);
  if (p.kind !== 'agent') throw new AppError('forbidden', 'Only a signed-in agent can do this.');
  return p.agent;
}

export function staffRoutes(deps: FlowDeps): Router {
  const r = Router();
  const read = requireStaff(deps, 'requests:read');
  const write = requireStaff(deps, 'requests:write');
  const dir = requireStaff(deps, 'directory:read');
  const admin = requireStaff(deps, 'admin');

  r.post('/auth/login', noStore, validated('login'), wrap(async (req, res) => {
    const { token, expiresAt, agent } = await loginAgent(deps, req.body.username, req.body.password);
    res.json({ token, expiresAt, agent: agentView(agent) });
  }));
  r.post('/auth/logout', read, wrap(async (req, res) => {
    const token = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (token) await logoutAgent(deps, token);
    res.status(204).end();
  }));
  // The agent plus their desk phone: "available" without a registered phone is said, not hidden.
  const me = async (agent: Agent) => {
    const phone = (await deps.store.registrations.phoneStates(deps.clock())).get(agent.extension) ?? 'none';
    return { ...agentView(agent, phone), ...deskPhoneStatus(deps, agent, phone) };
  };
  r.get('/me', read, wrap(async (_req, res) => {
    res.json(await me(requireAgentPrincipal(res)));
  }));
  r.put('/me/availability', read, validated('setAvailability'), wrap(async (req, res) => {
    const agent = requireAgentPrincipal(res);
    res.json(await me(await setAgentAvailability(deps, agent.id, req.body.availability)));
  }));

  r.post('/call-requests', write, validated('createCallRequest'), wrap(async (req, res) => {
    const p = principalOf(res);
    const idempotencyKey = req.get('idempotency-key') ?? null;
    const { request, created, reachedBy } = await requestCall(deps, {
      agentId: actingAgentId(res, req.body.agentId),
      customerId: req.body.customerId,
      reason: req.body.reason,
      reference: req.body.reference,
      groupId: req.body.groupId ?? null,
      idempotencyKey,
      idempotencyFingerprint: idempotencyKey === null ? null : requestFingerprint(p, req.body),
      createdBy: p.actor,
      ...(p.kind === 'agent' ? { agent: p.agent } : {}),
    });
    // Not created: a replay of the same Idempotency-Key and body, answered with the same request.
    // (A knock while another answerable request stands is refused 409 request_already_open.)
    if (!created) res.set('Idempotent-Replayed', 'true');
    const view = requestView(request, deps.clock());
    // A new knock says which channels reached the customer (the open app, push, SMS).
    res.status(created ? 201 : 200).location(`/api/v1/call-requests/${request.id}`).json(created ? { ...view, reachedBy: reachedBy ?? [] } : view);
  }));

  r.get('/call-requests', read, validated('listCallRequests'), wrap(async (req, res) => {
    const p = principalOf(res);
    const states = typeof req.query.state === 'string' ? req.query.state.split(',') : undefined;
    const bad = states?.filter((s) => !(CALL_REQUEST_STATES as readonly string[]).includes(s));
    if (bad?.length) throw new AppError('validation_failed', `state: unknown ${bad.join(', ')}; known: ${CALL_REQUEST_STATES.join(', ')}.`);
    const scope = (req.query.scope as string | undefined) ?? (p.kind === 'agent' ? 'mine' : 'all');
    // Newest first: the console shows the latest requests, however long the history.
    const filter: Parameters<FlowDeps['store']['callRequests']['list']>[0] = { limit: Number(req.query.limit ?? 100), order: 'newest' };
    if (states) filter.states = states as CallRequestState[];
    if (scope === 'mine') filter.agentId = requireAgentPrincipal(res).id;
    const list = await deps.store.callRequests.list(filter);
    const now = deps.clock();
    res.json({ items: list.map((x) => requestView(x, now)) });
  }));

  r.get('/call-requests/:id', read, wrap(async (req, res) => {
    const request = await loadRequest(deps, param(req, 'id'));
    const notifications = await deps.store.notifications.listFor(request.id);
    res.json({ ...requestView(request, deps.clock()), notifications: notifications.map(notificationView) });
  }));

  r.post('/call-requests/:id/cancel', write, wrap(async (req, res) => {
    const id = param(req, 'id');
    const p = principalOf(res);
    const existing = await loadRequest(deps, id);
    if (p.kind === 'agent' && existing.agentId !== p.agent.id && !p.scopes.has('admin')) {
      throw new AppError('forbidden', 'Only the agent who asked for the call can cancel it.');
    }
    res.json(requestView(await cancelCallRequest(deps, id, p.actor), deps.clock()));
  }));

  r.get('/callbacks', read, wrap(async (_req, res) => {
    const p = principalOf(res);
    const filter: Parameters<FlowDeps['store']['callRequests']['list']>[0] = { states: ['scheduled', 'due', 'prompted', 'agent_dialled'], limit: 500 };
    if (p.kind === 'agent' && p.agent.role === 'agent') filter.agentId = p.agent.id;
    const list = await deps.store.callRequests.list(filter);
    const now = deps.clock();
    list.sort((a, b) => (a.scheduledFor?.getTime() ?? 0) - (b.scheduledFor?.getTime() ?? 0));
    res.json({ items: list.map((x) => requestView(x, now)) });
  }));

  r.get('/queues', read, wrap(async (_req, res) => {
    const groups = await deps.store.groups.list();
    const open = await deps.store.callRequests.list({ states: [...WAITING_STATES, 'snoozed'], limit: 1000 });
    const now = deps.clock();
    // A snoozed request is not waiting: the customer asked to be reminded later. It is listed apart.
    const of = (g: string, waiting: boolean) => queueOrder(open.filter((w) => w.groupId === g && (w.state !== 'snoozed') === waiting)).map((x) => requestView(x, now));
    res.json({ items: groups.map((g) => ({ groupId: g.id, name: g.name, waiting: of(g.id, true), snoozed: of(g.id, false) })) });
  }));

  r.get('/events', read, (req, res) => {
    const p = principalOf(res);
    const mine = p.kind === 'agent' && p.agent.role === 'agent' ? p.agent.id : null;
    // Every instance's changes (the cluster's event log); resumes after Last-Event-ID.
    openLiveStream(req, res, deps.events, (e) => {
      if (e.type === 'callback.dial') return null; // for the SIP layer, not consoles
      if (mine && 'agentId' in e && e.agentId !== mine) return null;
      return { type: e.type, data: e };
    });
  });

  r.get('/customers', dir, validated('searchCustomers'), wrap(async (req, res) => {
    const found = await deps.store.customers.search(String(req.query.q), 50);
    res.json({ items: found.map(customerView) });
  }));
  r.post('/customers', admin, validated('createCustomer'), wrap(async (req, res) => {
    const c = await createCustomer(deps, { name: req.body.name, phone: req.body.phone ?? null, timeZone: req.body.timeZone ?? null, externalRef: req.body.externalRef ?? null });
    res.status(201).json(customerView(c));
  }));
  r.post('/customers/:id/enrollment-codes', write, noStore, wrap(async (req, res) => {
    res.status(201).json(await issueEnrollmentCode(deps, param(req, 'id'), principalOf(res).actor));
  }));

  r.get('/customers/:id/devices', dir, wrap(async (req, res) => {
    const id = param(req, 'id');
    if (!(await deps.store.customers.get(id))) throw new AppError('not_found', `No customer ${id}.`);
    res.json({ items: (await deps.store.devices.listForCustomer(id)).map(deviceView) });
  }));
  // A customer's lost or stolen phone: agents and integrations can revoke it (audited).
  r.delete('/customers/:id/devices/:deviceId', write, wrap(async (req, res) => {
    await revokeDevice(deps, param(req, 'deviceId'), { actor: principalOf(res).actor, customerId: param(req, 'id'), reason: `revoked by ${principalOf(res).actor}` });
    res.status(204).end();
  }));

  r.get('/agents', dir, wrap(async (_req, res) => {
    const phones = await deps.store.registrations.phoneStates(deps.clock());
    res.json({ items: (await deps.store.agents.list()).map((a) => agentView(a, phones.get(a.extension) ?? 'none')) });
  }));
  r.post('/agents', admin, validated('createAgent'), wrap(async (req, res) => {
    const agent = await createAgent(deps, { ...req.body, groups: req.body.groups ?? [] });
    res.status(201).json(agentView(agent));
  }));
  r.get('/groups', dir, wrap(async (_req, res) => {
    res.json({ items: await deps.store.groups.list() });
  }));
  r.put('/groups/:gid', admin, validated('saveGroup'), wrap(async (req, res) => {
    const s = deps.config.scheduling;
    const group = await saveGroup(deps, {
      id: String(req.params.gid),
      name: req.body.name,
      timeZone: req.body.timeZone,
      businessHours: req.body.businessHours,
      slotCapacity: req.body.slotCapacity ?? null,
      slotMinutes: req.body.slotMinutes ?? s.slotMinutes,
      callbackMode: req.body.callbackMode ?? s.callbackMode,
    });
    res.json(group);
  }));
  r.post('/api-keys', admin, noStore, validated('createApiKey'), wrap(async (req, res) => {
    const { key, apiKey } = await createApiKey(deps, req.body.name, req.body.scopes);
    res.status(201).json({ key, id: apiKey.id, name: apiKey.name, scopes: apiKey.scopes });
  }));
  r.get('/api-keys', admin, wrap(async (_req, res) => {
    res.json({ items: (await deps.store.apiKeys.list()).map((k) => ({ id: k.id, name: k.name, scopes: k.scopes, createdAt: k.createdAt, revokedAt: k.revokedAt })) });
  }));
  r.delete('/api-keys/:id', admin, wrap(async (req, res) => {
    await revokeApiKey(deps, param(req, 'id'), principalOf(res).actor);
    res.status(204).end();
  }));
  r.get('/audit/verify', admin, wrap(async (_req, res) => {
    res.json(await deps.store.audit.verify());
  }));
  return r;
}
