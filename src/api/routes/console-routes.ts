/**
 * What the agent console needs besides staff-routes.ts: call history (the call records, with the
 * customer's name and the request's reference), one customer by id (to name the customer of a
 * request in lists), transferring the call of a request (a durable job; progress on the live
 * channel) and starting a scheduled callback now.
 */
import { Router } from 'express';
import { AppError } from '../../domain/errors.js';
import type { CallRecord } from '../../domain/model.js';
import { callBackNow } from '../../flows/callback-now.js';
import { currentCallOf } from '../../flows/call-screen.js';
import { requestConsoleTransfer } from '../../flows/console-transfer.js';
import type { FlowDeps } from '../../flows/ports.js';
import { principalOf, requireStaff, wrap, type Principal } from '../auth.js';
import { idParam, validated } from '../validate.js';
import { customerView, requestView } from '../views.js';

/** Agents act on their own calls and callbacks; supervisors, admins and integrations on anyone's. */
function asker(p: Principal): { actor: string; agentId: string | null; actsForOthers: boolean } {
  if (p.kind === 'agent') return { actor: p.actor, agentId: p.agent.id, actsForOthers: p.agent.role !== 'agent' };
  return { actor: p.actor, agentId: null, actsForOthers: true };
}

export function consoleRoutes(deps: FlowDeps): Router {
  const r = Router();
  const read = requireStaff(deps, 'requests:read');
  const write = requireStaff(deps, 'requests:write');
  const dir = requireStaff(deps, 'directory:read');

  r.post('/api/v1/call-requests/:id/transfer', write, validated('transferCall'), wrap(async (req, res) => {
    const by = asker(principalOf(res));
    const accepted = await requestConsoleTransfer(deps, {
      requestId: idParam(req, 'call request'),
      target: { toAgentId: req.body.toAgentId ?? null, toGroup: req.body.toGroup ?? null },
      by: { actor: by.actor, agentId: by.agentId, mayMoveAnyCall: by.actsForOthers },
    });
    res.status(202).json(accepted);
  }));

  // The call screen after a reload: the verified call the signed-in agent is on, or 204.
  r.get('/api/v1/me/call', read, wrap(async (_req, res) => {
    const p = principalOf(res);
    if (p.kind !== 'agent') throw new AppError('forbidden', 'Only a signed-in agent has a call screen.');
    const call = await currentCallOf(deps, p.agent.id);
    if (call) res.json(call);
    else res.status(204).end();
  }));

  r.post('/api/v1/call-requests/:id/call-now', write, wrap(async (req, res) => {
    const by = asker(principalOf(res));
    const result = await callBackNow(deps, idParam(req, 'call request'), { actor: by.actor, agentId: by.agentId, mayActForOthers: by.actsForOthers });
    res.json({ ...requestView(result.request, deps.clock()), mode: result.mode, customerNotified: result.customerNotified });
  }));

  r.get('/api/v1/call-records', read, validated('listCallRecords'), wrap(async (req, res) => {
    const p = principalOf(res);
    const filter: Parameters<FlowDeps['store']['callRecords']['list']>[0] = { limit: Number(req.query.limit ?? 50) };
    // Agents see their own calls; supervisors, admins and integrations see everyone's.
    if (p.kind === 'agent' && p.agent.role === 'agent') filter.agentId = p.agent.id;
    const records = await deps.store.callRecords.list(filter);
    // Each distinct customer and request read once, all at the same time.
    const lookup = async (ids: Array<string | null>, read: (id: string) => Promise<string | undefined>) => {
      const distinct = [...new Set(ids.filter((id): id is string => id !== null))];
      return new Map(await Promise.all(distinct.map(async (id) => [id, (await read(id)) ?? ''] as const)));
    };
    const [names, references] = await Promise.all([
      lookup(records.map((rec) => rec.customerId), async (id) => (await deps.store.customers.get(id))?.name),
      lookup(records.map((rec) => rec.callRequestId), async (id) => (await deps.store.callRequests.get(id))?.reference),
    ]);
    res.json({
      items: records.map((rec: CallRecord) => ({
        id: rec.id,
        direction: rec.direction,
        callRequestId: rec.callRequestId,
        reference: rec.callRequestId ? references.get(rec.callRequestId) || null : null,
        customerId: rec.customerId,
        customerName: rec.customerId ? names.get(rec.customerId) || null : null,
        agentId: rec.agentId,
        startedAt: rec.startedAt,
        answeredAt: rec.answeredAt,
        endedAt: rec.endedAt,
        outcome: rec.outcome,
        verification: rec.verification,
      })),
    });
  }));

  r.get('/api/v1/customers/:id', dir, wrap(async (req, res) => {
    const customer = await deps.store.customers.get(idParam(req, 'customer'));
    if (!customer) throw new AppError('not_found', 'No such customer.');
    res.json(customerView(customer));
  }));
  return r;
}
