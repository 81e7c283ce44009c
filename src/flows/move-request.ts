/**
 * Moves a call request through the state machine and persists it with compare-and-set, so two
 * concurrent answers (two devices, a late accept racing the expiry job) resolve to exactly one
 * outcome: the loser re-reads the request and the machine refuses its event with a reason.
 *
 * The one write path: the move, its audit entry, the jobs its new state needs (request-jobs.ts)
 * and the notification it owes the customer (an outbox row) are written together or not at all;
 * the notification is sent only after that commit.
 */
import { applyEvent, type CallRequestEvent, type CallRequestSnapshot } from '../domain/call-request.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { CallRequest, NotificationKind } from '../domain/model.js';
import type { MoveEffects, NewAuditEntry } from '../store/store.js';
import { outboxEntry, sendNow } from './outbox.js';
import type { FlowDeps } from './ports.js';
import { jobChanges } from './request-jobs.js';

const MAX_RACE_RETRIES = 5;

export async function loadRequest(deps: Pick<FlowDeps, 'store'>, id: string): Promise<CallRequest> {
  const req = await deps.store.callRequests.get(id);
  if (!req) throw new AppError('not_found', `No call request ${id}.`);
  return req;
}

/**
 * Writes an allowed move: compare-and-set on `before.version`, with `audit` in the same statement;
 * null when another writer got there first. The default is `callRequests.update`; a flow whose
 * move comes with a record of its own passes a writer that stores both in one statement.
 */
export type MoveWriter = (before: CallRequest, next: CallRequestSnapshot, audit: NewAuditEntry, effects: MoveEffects) => Promise<CallRequest | null>;

export interface MoveOptions {
  /** The notification the customer is owed once the move has committed. */
  notify?: NotificationKind;
}

/**
 * `known` is the request as the caller just read it, which saves reading it again. It is only a
 * first guess: the update is still compare-and-set on its version, and a refusal by the machine
 * is decided on a fresh read, never on the caller's copy.
 */
export async function moveRequest(
  deps: FlowDeps,
  id: string,
  event: CallRequestEvent,
  actor: string,
  known?: CallRequest,
  write: MoveWriter = (before, next, audit, effects) => deps.store.callRequests.update(id, before.version, next, audit, effects),
  options: MoveOptions = {},
): Promise<{ before: CallRequest; after: CallRequest }> {
  let guess = known?.id === id ? known : undefined;
  for (let attempt = 0; attempt < MAX_RACE_RETRIES; attempt++) {
    const fromCaller = guess !== undefined;
    const before = guess ?? (await loadRequest(deps, id));
    guess = undefined;
    const now = deps.clock();
    let next;
    try {
      next = applyEvent(before, event, now);
    } catch (e) {
      if (fromCaller && isAppError(e)) {
        attempt--; // not a race lost: just decide again on the stored state
        continue;
      }
      if (isAppError(e)) {
        await deps.store.audit.append({
          actor,
          action: `request.${event.type}`,
          subject: `call_request:${id}`,
          decision: 'deny',
          reason: e.message,
          data: { state: before.state, code: e.code },
        });
      }
      throw e;
    }
    // The audit entry, the jobs and the outbox row are written with the change, only if it applied.
    const notify = options.notify ? [outboxEntry(options.notify)] : [];
    const effects: MoveEffects = { ...jobChanges(before, next), notify };
    const after = await write(before, next, moveAuditEntry(before, next, event, actor), effects);
    if (!after) continue; // another writer moved it first: decide again on the fresh state
    announceMove(deps, { from: before.state, after, event, actor, now });
    await sendNow(
      deps,
      notify.map((n) => n.id),
      { request: after },
    );
    return { before, after };
  }
  throw new AppError('conflict', 'The call request is changing too quickly; try again.');
}

/** The audit entry of an allowed move, written in the statement that makes it. */
export function moveAuditEntry(before: CallRequest, next: CallRequestSnapshot, event: CallRequestEvent, actor: string): NewAuditEntry {
  return {
    actor,
    action: `request.${event.type}`,
    subject: `call_request:${before.id}`,
    decision: 'allow',
    reason: `${before.state} -> ${next.state}`,
    data: {},
  };
}

/** Tells the consoles and the log that a request moved (after the move and its audit entry are stored). */
export function announceMove(
  deps: Pick<FlowDeps, 'events' | 'logger'>,
  m: { from: CallRequest['state']; after: CallRequest; event: CallRequestEvent; actor: string; now: Date },
): void {
  const { after } = m;
  deps.events.publish(
    {
      type: 'request.changed',
      requestId: after.id,
      agentId: after.agentId,
      customerId: after.customerId,
      state: after.state,
      reason: m.event.type,
      at: m.now.toISOString(),
    },
    { requestVersion: after.version },
  );
  deps.logger.info({ requestId: after.id, from: m.from, to: after.state, event: m.event.type, actor: m.actor }, 'call request moved');
}
