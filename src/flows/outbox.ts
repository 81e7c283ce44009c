/**
 * Sends the notifications a committed move owes the customer (the outbox, store MoveEffects.notify).
 * The move's transaction writes the outbox row, so a request that did not commit is never
 * notified; the writer sends its rows itself right after the commit (`sendNow`), and the drainer
 * (`drainOutbox`, housekeeping and start-up) sends any a crash or an outage left behind. A row is
 * deleted once sent, so a notification goes out at least once; one that lost its moment (the
 * request moved on meanwhile) is dropped instead of sent late.
 */
import { randomUUID } from 'node:crypto';
import type { CallRequestState } from '../domain/call-request.js';
import { isAppError } from '../domain/errors.js';
import type { CallRequest, ChannelName, NotificationKind } from '../domain/model.js';
import type { OutboxEntry } from '../store/store.js';
import type { FlowDeps, NotifyCustomerArgs, NotifyResult } from './ports.js';

/** After this many tries an entry is given up (logged at error). */
const MAX_ATTEMPTS = 10;

/** The state in which a notification of this kind still means something to the customer. */
const STILL_MEANT: Partial<Record<NotificationKind, CallRequestState[]>> = {
  knock: ['notified'],
  reminder: ['notified', 'scheduled'],
  expired: ['expired'],
  callback_prompt: ['prompted'],
};

/** One outbox row for a move, with a fresh id. */
export function outboxEntry(kind: NotificationKind): { id: string; kind: NotificationKind } {
  return { id: randomUUID(), kind };
}

type Known = Partial<Pick<NotifyCustomerArgs, 'customer' | 'devices' | 'history'>> & { request?: CallRequest; agentName?: string };

/** Sends one claimed entry; throws what the notifier throws. Null when it lost its moment. */
async function deliver(deps: FlowDeps, entry: OutboxEntry, known: Known = {}): Promise<NotifyResult | null> {
  const request = known.request?.id === entry.callRequestId ? known.request : await deps.store.callRequests.get(entry.callRequestId);
  if (!request || !(STILL_MEANT[entry.kind] ?? [request.state]).includes(request.state)) {
    deps.logger.info({ requestId: entry.callRequestId, kind: entry.kind, state: request?.state }, 'notification dropped: the request moved on');
    await deps.store.outbox.done(entry.id);
    return null;
  }
  const agentName = known.agentName ?? (await deps.store.agents.get(request.agentId))?.name ?? 'Your adviser';
  const result = await deps.notifier.notifyCustomer({ ...known, request, agentName, kind: entry.kind, now: deps.clock() });
  await deps.store.outbox.done(entry.id);
  return result;
}

/**
 * Sends entries a move just committed. A customer nobody can reach is not retried (the row goes);
 * any other failure leaves the row for the drainer. Never throws.
 */
export async function sendNow(deps: FlowDeps, ids: string[], known: Known = {}): Promise<void> {
  if (ids.length === 0) return;
  try {
    for (const entry of await deps.store.outbox.claim(ids, deps.clock())) await sendOne(deps, entry, known);
  } catch (e) {
    deps.logger.warn({ err: isAppError(e) ? e.message : String(e) }, 'notifications left for the outbox drainer');
  }
}

async function sendOne(deps: FlowDeps, entry: OutboxEntry, known: Known = {}): Promise<boolean> {
  try {
    await deliver(deps, entry, known);
    return true;
  } catch (e) {
    if (isAppError(e) && e.code === 'no_reachable_device') {
      deps.logger.warn({ requestId: entry.callRequestId, kind: entry.kind }, 'customer could not be notified');
      await deps.store.outbox.done(entry.id).catch(() => undefined);
      return false;
    }
    if (entry.attempts >= MAX_ATTEMPTS) {
      deps.logger.error({ requestId: entry.callRequestId, kind: entry.kind, attempts: entry.attempts }, 'notification given up after its last try');
      await deps.store.outbox.done(entry.id).catch(() => undefined);
      return false;
    }
    deps.logger.warn({ requestId: entry.callRequestId, kind: entry.kind, err: isAppError(e) ? e.message : String(e) }, 'notification failed; the drainer tries again');
    return false;
  }
}

/**
 * The knock's own send: like sendNow, but tells the caller when nobody could be reached, so the
 * agent hears it at once. A send that failed otherwise is left to the drainer (the knock stands).
 */
export async function sendKnock(deps: FlowDeps, id: string, known: Known): Promise<{ unreachable: string } | 'deferred' | { sent: ChannelName[] }> {
  let entry: OutboxEntry | undefined;
  try {
    [entry] = await deps.store.outbox.claim([id], deps.clock());
    if (!entry) return 'deferred';
    const result = await deliver(deps, entry, known);
    return result ? { sent: result.delivered } : 'deferred';
  } catch (e) {
    if (isAppError(e) && e.code === 'no_reachable_device') {
      if (entry) await deps.store.outbox.done(entry.id).catch(() => undefined);
      return { unreachable: e.message };
    }
    deps.logger.warn({ requestId: known.request?.id, err: isAppError(e) ? e.message : String(e) }, 'knock notification left for the outbox drainer');
    return 'deferred';
  }
}

/** Sends what is due in the outbox (left behind by a crash or an outage); returns how many went. */
export async function drainOutbox(deps: FlowDeps, limit = 200): Promise<number> {
  const entries = await deps.store.outbox.claimDue(deps.clock(), limit);
  let sent = 0;
  for (const entry of entries) if (await sendOne(deps, entry)) sent++;
  if (entries.length > 0) deps.logger.info({ claimed: entries.length, sent }, 'outbox drained');
  return sent;
}

