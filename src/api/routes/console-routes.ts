/**
 * What the agent console needs besides staff-routes.ts: call history (the call records, with the
 * customer's name and the request's reference) and one customer by id (to name the customer of a
 * request in lists).
 */
import { Router, type Request } from 'express';
import { AppError } from '../../domain/errors.js';
import type { CallRecord } from '../../domain/model.js';
import type { FlowDeps } from '../../flows/ports.js';
import { principalOf, requireStaff, wrap } from '../auth.js';
import { validated } from '../validate.js';
import { customerView } from '../views.js';

function idParam(req: Request, what: string): string {
  const v = req.params.id;
  if (typeof v !== 'string' || !/^[0-9a-f-]{36}$/i.test(v)) throw new AppError('not_found', `No such ${what}.`);
  return v;
}

export function consoleRoutes(deps: FlowDeps): Router {
  const r = Router();
  const read = requireStaff(deps, 'requests:read');
  const dir = requireStaff(deps, 'directory:read');

  r.get('/api/v1/call-records', read, validated('listCallRecords'), wrap(async (req, res) => {
    const p = principalOf(res);
    const filter: Parameters<FlowDeps['store']['callRecords']['list']>[0] = { limit: Number(req.query.limit ?? 50) };
    // Agents see their own calls; supervisors, admins and integrations see everyone's.
    if (p.kind === 'agent' && p.agent.role === 'agent') filter.agentId = p.agent.id;
    const records = await deps.store.callRecords.list(filter);
    const names = new Map<string, string>();
    const references = new Map<string, string>();
    for (const rec of records) {
      if (rec.customerId && !names.has(rec.customerId)) names.set(rec.customerId, (await deps.store.customers.get(rec.customerId))?.name ?? '');
      if (rec.callRequestId && !references.has(rec.callRequestId)) {
        references.set(rec.callRequestId, (await deps.store.callRequests.get(rec.callRequestId))?.reference ?? '');
      }
    }
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
