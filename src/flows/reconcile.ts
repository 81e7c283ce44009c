/**
 * The reconciler: finds open requests whose state needs a job they do not have (request-jobs.ts:
 * notified without expiry, snoozed without reminder or expiry, scheduled without callback, or one
 * due at another time than the request shows) and writes the missing jobs, one audit entry per
 * repaired request, in one transaction with the request row locked (skipped if it moved meanwhile).
 * Every move writes its jobs in its own transaction, so gaps come only from before that rule, from
 * hand edits of the jobs table, or from a job that gave up; run at start-up and by housekeeping.
 */
import type { RequestJobKind } from '../store/store.js';
import type { FlowDeps } from './ports.js';
import { JOB_RULES } from './request-jobs.js';

const BATCH = 500;

export async function reconcileRequestJobs(deps: Pick<FlowDeps, 'store' | 'logger'>): Promise<number> {
  const gaps = await deps.store.callRequests.jobGaps(JOB_RULES, BATCH);
  const byRequest = new Map<string, typeof gaps>();
  for (const gap of gaps) byRequest.set(gap.request.id, [...(byRequest.get(gap.request.id) ?? []), gap]);
  let repaired = 0;
  for (const [id, list] of byRequest) {
    const request = list[0]!.request;
    const setJobs = list.map((g) => ({ name: g.job, at: g.at }));
    const ok = await deps.store.callRequests.applyEffects(id, request.version, { setJobs }, {
      actor: 'system:reconciler',
      action: 'request.repair',
      subject: `call_request:${id}`,
      decision: 'info',
      reason: `${request.state} request had no pending ${setJobs.map((j) => j.name).join(' and ')} at its time; scheduled`,
      data: { state: request.state, jobs: setJobs.map((j) => ({ name: j.name as RequestJobKind, at: j.at.toISOString() })) },
    });
    if (ok) repaired++;
  }
  if (repaired > 0) deps.logger.warn({ repaired }, 'reconciler scheduled missing request jobs');
  return repaired;
}
