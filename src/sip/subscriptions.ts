/**
 * SUBSCRIBE from desk phones and the NOTIFYs that follow (RFC 6665), for the packages of
 * event-packages.ts: `message-summary` (RFC 3842) on the phone's own extension, and `dialog`
 * (RFC 4235) or `presence` (RFC 3856) on a colleague's, the busy-lamp keys.
 *
 *   phone                         this server
 *   SUBSCRIBE (Event, Expires) ──►  unknown event → 489 + Allow-Events; Expires too brief → 423
 *                              ◄──  401 challenge / 403 (desk-phone-auth.ts, as REGISTER)
 *   SUBSCRIBE + credentials    ──►  200 + Expires (bounded by sip.subscriptions)
 *                              ◄──  NOTIFY active;expires=… with the current state
 *   … the watched agent's line changes (busy-lamps.ts) ◄── NOTIFY with the new state
 *   SUBSCRIBE in the dialog    ──►  refresh: 200 + NOTIFY;  Expires: 0: 200 + NOTIFY terminated
 *   no refresh in time            ◄── NOTIFY terminated;reason=timeout
 *
 * Lamps follow agents' live events at once (busy-lamps.ts). Events stay in the process that made
 * the change, so every 10 s each instance also compares what the lamps last showed with the
 * agents' availability in the database, in one read, and tells those that differ: a change made
 * by an instance without SIP, or one whose process died before telling, shows within seconds.
 *
 * Where subscriptions live: in PostgreSQL (migration 011), keyed by drachtio-server's dialog id,
 * not in drachtio-srf Dialog objects in this process. drachtio-server holds the dialog itself
 * (its route set and CSeq), and any application connected to it can send a request inside it by
 * that id; so an agent's call handled by one instance lights the lamps of phones that subscribed
 * through another, a refresh may reach any instance, and a restart forgets no subscription. The
 * row also keeps each subscription's NOTIFY version and last reported state, moved in one
 * statement, so a change seen by two instances is sent once. (Instances must share the
 * drachtio-server that holds a dialog to notify in it, as they do for calls.)
 *
 * Refreshes and unsubscribes inside the dialog are not challenged again: drachtio-server matched
 * them to the dialog the authenticated SUBSCRIBE created (Call-ID and both tags).
 */
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import {
  EVENT_CONTENT_TYPE,
  grantedExpiry,
  isEventPackage,
  lineStateOf,
  notifyContent,
  reportedState,
  type EventPackage,
  type LineState,
} from '../domain/event-packages.js';
import type { FlowDeps } from '../flows/ports.js';
import type { SipSubscription } from '../store/store.js';
import type { DeskPhoneAuthenticator } from './desk-phone-auth.js';
import { ALLOW_EVENTS } from './method-answers.js';
import { addrSpec, sendResponse, uriUser, type SipRequest, type SipResponse } from './sip-message.js';

/**
 * How often expired subscriptions are looked for (each gets its final NOTIFY), and lamps a missed
 * event left wrong are put right.
 */
const SWEEP_MS = 10_000;
/** Expired subscriptions ended per statement of a sweep. */
const SWEEP_BATCH = 100;

export interface Subscriptions {
  /** Tells every phone watching `extension` whose lamp would change (and only those). */
  lineChanged(extension: string, line: LineState): Promise<void>;
  /** Ends expired subscriptions with a final NOTIFY; how many. */
  sweepExpired(now?: Date): Promise<number>;
  /**
   * Tells the lamps that show something else than the database says now (a change made by an
   * instance without SIP, or whose events were lost with its process); how many extensions.
   */
  catchUp(now?: Date): Promise<number>;
  stop(): void;
}

type InDialogRequest = {
  request(uri: string, opts: { method: string; stackDialogId: string; headers: Record<string, string>; body?: string }): Promise<{ on(ev: 'response', fn: (res: { status: number }) => void): void }>;
};

/** The package of an Event header (RFC 6665 §8.2.1: a token, then parameters such as id). */
function eventPackageOf(req: SipRequest): string {
  return (req.get('Event') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Whether the SUBSCRIBE's Accept (if any) allows the package's body (RFC 6665 §4.1.2). */
function accepts(req: SipRequest, event: EventPackage): boolean {
  if (!req.has('Accept')) return true;
  const wanted = EVENT_CONTENT_TYPE[event];
  const [type] = wanted.split('/');
  return req
    .get('Accept')
    .split(',')
    .map((a) => a.split(';')[0]!.trim().toLowerCase())
    .some((a) => a === wanted || a === `${type}/*` || a === '*/*');
}

function requestedExpiry(req: SipRequest): number | null | 'bad' {
  if (!req.has('Expires')) return null;
  const v = req.get('Expires').trim();
  return /^\d{1,10}$/.test(v) ? Number(v) : 'bad';
}

export function startSubscriptions(args: {
  deps: FlowDeps;
  srf: Srf;
  auth: DeskPhoneAuthenticator;
  /** The line state of the agent on an extension now (busy-lamps.ts). */
  lineOf(extension: string): Promise<LineState | null>;
  logger: Logger;
}): Subscriptions {
  const { deps, auth } = args;
  const bounds = deps.config.sip.subscriptions;
  const log = args.logger.child({ component: 'sip-subscriptions' });
  const srf = args.srf as unknown as InDialogRequest;

  /**
   * One NOTIFY inside the subscription's dialog. A 481 (or no dialog at drachtio-server) means
   * the phone has forgotten it (RFC 6665 §4.1.3): the row goes.
   */
  const notify = async (sub: SipSubscription, line: LineState | null, state: 'active' | 'terminated', reason?: string, now = deps.clock()) => {
    const content = notifyContent(sub.event, {
      entity: sub.entity,
      version: sub.version,
      extension: sub.target,
      state: reportedState(sub.event, line ?? 'offline'),
    });
    const remaining = Math.max(0, Math.round((sub.expiresAt.getTime() - now.getTime()) / 1000));
    const subscriptionState = state === 'active' ? `active;expires=${remaining}` : `terminated${reason ? `;reason=${reason}` : ''}`;
    const gone = async (why: string) => {
      log.info({ dialogId: sub.dialogId, event: sub.event, subscriber: sub.subscriber, why }, 'subscription ended: the phone no longer has it');
      if (state === 'active') await deps.store.sipSubscriptions.remove(sub.dialogId).catch(() => undefined);
    };
    try {
      const sent = await srf.request('sip:placeholder', {
        method: 'NOTIFY',
        stackDialogId: sub.dialogId,
        headers: { Event: sub.event, 'Subscription-State': subscriptionState, 'Content-Type': content.contentType },
        body: content.body,
      });
      sent.on('response', (res) => {
        if (res.status === 481) void gone('481 to NOTIFY');
        else if (res.status >= 300) log.info({ dialogId: sub.dialogId, status: res.status }, 'NOTIFY refused by the phone');
      });
    } catch (e) {
      await gone(e instanceof Error ? e.message : String(e));
    }
  };

  /** A new subscription: checked, authenticated, answered 200, stored, first NOTIFY. */
  const subscribe = async (req: SipRequest, res: SipResponse, event: EventPackage, expires: number) => {
    const fromUser = req.has('From') ? uriUser(addrSpec(req.get('From'))) : null;
    const agent = await auth.authenticate(req, res, { action: 'subscribe', claimedUser: fromUser });
    if (!agent) return;
    const target = uriUser(req.uri);
    if (!target) {
      sendResponse(res, 404, 'Not Found');
      return;
    }
    if (event === 'message-summary' && target !== agent.extension) {
      // Voicemail state is the extension's own business.
      sendResponse(res, 403, 'Forbidden');
      return;
    }
    if (event !== 'message-summary' && !(await deps.store.agents.getByExtension(target))) {
      sendResponse(res, 404, 'Not Found');
      return;
    }
    const entity = `sip:${target}@${deps.config.sip.domain}`;
    const dialogId = await new Promise<string | null>((resolve) => {
      res.send(200, 'OK', { headers: { Expires: String(expires) } }, (err: unknown) => {
        if (err) log.warn({ err: err instanceof Error ? err.message : String(err) }, '200 to SUBSCRIBE not sent');
        resolve(err ? null : ((res as unknown as { stackDialogId?: string }).stackDialogId ?? null));
      });
    });
    if (!dialogId) return;
    const now = deps.clock();
    const line = await args.lineOf(target);
    if (expires === 0) {
      // A fetch (RFC 6665 §4.4.3): the state once, no subscription kept.
      await notify({ dialogId, event, subscriber: agent.extension!, target, entity, version: 1, reported: null, expiresAt: now }, line, 'terminated', 'timeout', now);
      return;
    }
    await deps.store.sipSubscriptions.create({ dialogId, event, subscriber: agent.extension!, target, entity, expiresAt: new Date(now.getTime() + expires * 1000) }, now);
    log.info({ dialogId, event, subscriber: agent.extension, target, expires }, 'desk phone subscribed');
    const first = await deps.store.sipSubscriptions.nextNotify(dialogId, reportedState(event, line ?? 'offline'), now);
    if (first) await notify(first, line, 'active', undefined, now);
  };

  /** A SUBSCRIBE inside an existing subscription dialog: refresh or unsubscribe. */
  const resubscribe = async (req: SipRequest, res: SipResponse, dialogId: string, event: EventPackage, expires: number) => {
    const now = deps.clock();
    const current = await deps.store.sipSubscriptions.get(dialogId, now);
    if (!current) {
      sendResponse(res, 481, 'Subscription Does Not Exist');
      return;
    }
    if (current.event !== event) {
      sendResponse(res, 489, 'Bad Event', { 'Allow-Events': current.event });
      return;
    }
    if (expires === 0) {
      const ended = await deps.store.sipSubscriptions.remove(dialogId);
      sendResponse(res, 200, 'OK', { Expires: '0' });
      log.info({ dialogId, event, subscriber: current.subscriber }, 'desk phone unsubscribed');
      if (ended) await notify({ ...ended, version: ended.version + 1, expiresAt: now }, await args.lineOf(ended.target), 'terminated', undefined, now);
      return;
    }
    const refreshed = await deps.store.sipSubscriptions.refresh(dialogId, new Date(now.getTime() + expires * 1000), now);
    if (!refreshed) {
      sendResponse(res, 481, 'Subscription Does Not Exist');
      return;
    }
    sendResponse(res, 200, 'OK', { Expires: String(expires) });
    // RFC 6665 §4.2.1.2: a refresh is answered with the current state too.
    const line = await args.lineOf(refreshed.target);
    const next = await deps.store.sipSubscriptions.nextNotify(dialogId, reportedState(event, line ?? 'offline'), now);
    if (next) await notify(next, line, 'active', undefined, now);
  };

  const handle = async (req: SipRequest, res: SipResponse) => {
    const event = eventPackageOf(req);
    if (!isEventPackage(event)) {
      sendResponse(res, 489, 'Bad Event', { 'Allow-Events': ALLOW_EVENTS });
      return;
    }
    if (!accepts(req, event)) {
      sendResponse(res, 406, 'Not Acceptable', { Accept: EVENT_CONTENT_TYPE[event] });
      return;
    }
    const requested = requestedExpiry(req);
    if (requested === 'bad') {
      sendResponse(res, 400, 'Bad Expires');
      return;
    }
    const expires = grantedExpiry(requested, bounds);
    if (expires === null) {
      sendResponse(res, 423, 'Interval Too Brief', { 'Min-Expires': String(bounds.minExpires) });
      return;
    }
    const dialogId = (req as unknown as { stackDialogId?: string }).stackDialogId;
    if (dialogId) await resubscribe(req, res, dialogId, event, expires);
    else if (/;\s*tag=/i.test(req.get('To') ?? '')) sendResponse(res, 481, 'Subscription Does Not Exist');
    else await subscribe(req, res, event, expires);
  };

  const tell = async (extension: string, line: LineState, events: ReadonlyArray<'dialog' | 'presence'> = ['dialog', 'presence'], now = deps.clock()) => {
    const states = Object.fromEntries(events.map((event) => [event, reportedState(event, line)]));
    const changed = await deps.store.sipSubscriptions.report(extension, states, now);
    await Promise.all(changed.map((sub) => notify(sub, line, 'active', undefined, now)));
  };

  const catchUp = async (now = deps.clock()) => {
    const stale = new Map<string, Set<'dialog' | 'presence'>>();
    for (const w of await deps.store.sipSubscriptions.watchedLines(now)) {
      const wanted = reportedState(w.event, w.availability ? lineStateOf(w.availability, false) : 'offline');
      // A call ringing is known only to the instance ringing it: its `early` stands for busy.
      if (w.reported === wanted || (w.reported === 'early' && wanted === 'confirmed')) continue;
      stale.set(w.target, (stale.get(w.target) ?? new Set()).add(w.event));
    }
    for (const [target, events] of stale) await tell(target, (await args.lineOf(target)) ?? 'offline', [...events], now);
    return stale.size;
  };

  const sweepExpired = async (now = deps.clock()) => {
    let ended = 0;
    for (;;) {
      const batch = await deps.store.sipSubscriptions.takeExpired(now, SWEEP_BATCH);
      for (const sub of batch) {
        await notify({ ...sub, version: sub.version + 1 }, await args.lineOf(sub.target), 'terminated', 'timeout', now);
      }
      ended += batch.length;
      if (batch.length < SWEEP_BATCH) return ended;
    }
  };

  (args.srf as unknown as { subscribe(h: (req: SipRequest, res: SipResponse) => void): void }).subscribe((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error({ callId: req.get('Call-ID'), err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'SUBSCRIBE failed');
      sendResponse(res, 500, 'Server Internal Error');
    });
  });
  const timer = setInterval(() => {
    sweepExpired()
      .then(() => catchUp())
      .catch((e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'subscriptions not swept'));
  }, SWEEP_MS);
  timer.unref();

  return {
    lineChanged: (extension, line) => tell(extension, line),
    sweepExpired,
    catchUp,
    stop: () => clearInterval(timer),
  };
}
