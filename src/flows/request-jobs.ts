/**
 * Which job each state of the life cycle needs, and when it is due: the flow's half of the one
 * write path. The domain decides the next state; this table says which timers that state implies,
 * so every move writes them in its own transaction (move-request.ts), and the reconciler
 * (reconcile.ts) finds any open request that lacks one.
 *
 *   notified  -> request.expire at answerDeadline
 *   snoozed   -> request.remind at snoozeUntil (answerable until then; the reminder opens a
 *                fresh answer window, so no expiry while snoozed)
 *   accepted, authenticated -> request.lapse at holdUntil (the authentication or the call did
 *                not come in time: back to the customer, or expired)
 *   scheduled -> callback.due   at scheduledFor
 *   any other -> none (a pending one is dropped by the move)
 */
import { isTerminal, type CallRequestSnapshot, type CallRequestState } from '../domain/call-request.js';
import type { JobRule, MoveEffects, RequestJobKind } from '../store/store.js';

export const JOB_RULES: readonly JobRule[] = [
  { state: 'notified', job: 'request.expire', dueColumn: 'answer_deadline' },
  { state: 'snoozed', job: 'request.remind', dueColumn: 'snooze_until' },
  { state: 'accepted', job: 'request.lapse', dueColumn: 'hold_until' },
  { state: 'authenticated', job: 'request.lapse', dueColumn: 'hold_until' },
  { state: 'scheduled', job: 'callback.due', dueColumn: 'scheduled_for' },
];

const ALL_KINDS: readonly RequestJobKind[] = ['request.expire', 'request.remind', 'request.lapse', 'callback.due'];

const FIELD: Record<JobRule['dueColumn'], 'answerDeadline' | 'snoozeUntil' | 'scheduledFor' | 'holdUntil'> = {
  answer_deadline: 'answerDeadline',
  snooze_until: 'snoozeUntil',
  hold_until: 'holdUntil',
  scheduled_for: 'scheduledFor',
};

/** The jobs a request in this snapshot must have pending, with their due times. */
export function jobsNeeded(s: Pick<CallRequestSnapshot, 'state' | 'answerDeadline' | 'snoozeUntil' | 'scheduledFor' | 'holdUntil'>): Map<RequestJobKind, Date> {
  const out = new Map<RequestJobKind, Date>();
  for (const rule of JOB_RULES) {
    const at = rule.state === s.state ? s[FIELD[rule.dueColumn]] : null;
    if (at) out.set(rule.job, at);
  }
  return out;
}

export function statesNeedingJobs(): Set<CallRequestState> {
  return new Set(JOB_RULES.map((r) => r.state));
}

/**
 * The job changes of a move from `before` to `next`: jobs the new state needs are set when the
 * old one did not need them at that time (a reschedule replaces the callback), and jobs it no
 * longer needs are dropped (all of them when the request closes). A job still needed at the same
 * time is left alone, so a running one is not disturbed; a move between states that need no job
 * writes none and stays one statement.
 */
export function jobChanges(
  before: Pick<CallRequestSnapshot, 'state' | 'answerDeadline' | 'snoozeUntil' | 'scheduledFor' | 'holdUntil'> | null,
  next: Pick<CallRequestSnapshot, 'state' | 'answerDeadline' | 'snoozeUntil' | 'scheduledFor' | 'holdUntil'>,
): Pick<MoveEffects, 'setJobs' | 'dropJobs'> {
  const had = before ? jobsNeeded(before) : new Map<RequestJobKind, Date>();
  const needs = jobsNeeded(next);
  const setJobs = [...needs].filter(([k, at]) => had.get(k)?.getTime() !== at.getTime()).map(([name, at]) => ({ name, at }));
  const dropJobs = isTerminal(next.state) ? [...ALL_KINDS] : [...had.keys()].filter((k) => !needs.has(k));
  return { setJobs, dropJobs };
}
