/**
 * One customer call in progress, as the B2BUA holds it: the customer's leg (SIP dialog plus its
 * FreeSWITCH channel), the agent leg bridged to it, the session id both legs carry (RFC 7989),
 * and how it ends. Hang-up from either side (RFC 3261 §15) ends the other, releases the
 * FreeSWITCH channels and tells the flows (callEnded: session revoked, call record closed).
 * Re-INVITEs inside either dialog (hold/unhold, codec change; RFC 3261 §14) are answered by
 * that leg's FreeSWITCH channel: no token is asked for, the dialog is already trusted.
 */
import { randomBytes } from 'node:crypto';
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import type { LostCallCause, Outcome } from '../domain/call-request.js';
import { hangUpOutcome, nextPhase, type LiveCallEvent, type LiveCallPhase } from '../domain/live-call.js';
import type { Agent, CallRequest, SipDialogState } from '../domain/model.js';
import { callEnded, type CallLegIds } from '../flows/call-session.js';
import { agentDidNotAnswer } from '../flows/customer-queue.js';
import type { FlowDeps } from '../flows/ports.js';
import type { FreeswitchConnection } from '../media/freeswitch-connection.js';
import { releaseEndpoint, type MediaEndpoint } from '../media/media-legs.js';
import type { LocationService } from '../sip/location-service.js';
import { reinviteGate } from '../sip/reinvite-glare.js';
import { endedBySessionExpiry, sessionRefreshAnswerHeaders } from '../sip/session-timer.js';
import { warning } from '../sip/sip-message.js';
import { retryThroughOutage } from './outage-retry.js';
import { dialogStateOf } from '../sip/dialog-state.js';

/** What every call flow needs from the rest of the service. */
export interface CallContext {
  deps: FlowDeps;
  srf: Srf;
  media: FreeswitchConnection;
  locations: LocationService;
  logger: Logger;
  calls: ActiveCalls;
  /**
   * Takes the REFERs of an agent's phone that now has the call (transfer-requests.ts): the first
   * agent's, and each transfer target's. A delegate, so the transfers, which end by handing the
   * call to a new agent, do not import the module that dispatches to them.
   */
  acceptTransfers(call: CustomerCall, leg: AgentLeg): void;
}

/** A SIP leg anchored in FreeSWITCH. */
export interface Leg {
  dialog: Srf.Dialog;
  endpoint: MediaEndpoint;
}

export interface AgentLeg extends Leg {
  agent: Agent;
  /**
   * REFERs the phone sent between its answer and the call being connected (bridge, record):
   * held, not answered, until `stop()` hands them to whoever takes transfers on this leg.
   */
  earlyRefers?: { stop(): Array<[Srf.SrfRequest, Srf.SrfResponse]> };
}

/** How the customer was verified, as the agent legs announce it. */
export interface Verification {
  customerName: string;
  customerNumber: string | null;
  authMethod: string;
  authenticatedAt: Date;
}

/** A one-shot cancellation that ringing and waiting can listen to. */
export class Abort {
  private done = false;
  private readonly handlers = new Set<() => void>();

  get aborted(): boolean {
    return this.done;
  }

  onAbort(fn: () => void): () => void {
    if (this.done) {
      fn();
      return () => undefined;
    }
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    for (const fn of this.handlers) fn();
    this.handlers.clear();
  }

  /** Waits ms, or less when aborted. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const off = this.onAbort(() => {
        clearTimeout(t);
        resolve();
      });
      const t = setTimeout(() => {
        off();
        resolve();
      }, ms);
    });
  }
}

/** RFC 7989 §4: a session identifier is 32 lower-case hex characters (a UUID without dashes). */
export function newSessionId(): string {
  return randomBytes(16).toString('hex');
}

/** The customer's own Session-ID UUID, when their INVITE carried one. */
export function remoteSessionUuid(headerValue: string | undefined): string | null {
  const m = /^\s*([0-9a-f]{32})\b/i.exec(headerValue ?? '');
  return m ? m[1]!.toLowerCase() : null;
}

/** For logs: enough of the session id to follow a call, not enough to present it. */
export function sessionLabel(sessionId: string): string {
  return `${sessionId.slice(0, 8)}…`;
}

/** drachtio-server's id of the dialog: how a request is later sent inside it (drachtio-srf; untyped). */
export function stackDialogId(dialog: Srf.Dialog): string {
  return (dialog as unknown as { id: string }).id;
}

/** True while the dialog has not been hung up (drachtio-srf keeps this flag; untyped). */
export function isUp(dialog: Srf.Dialog): boolean {
  return (dialog as unknown as { connected?: boolean }).connected !== false;
}

/** Sends BYE unless the dialog is already over; a failure to send is not the caller's problem. */
export function hangUp(dialog: Srf.Dialog, reasonText: string): void {
  if (!isUp(dialog)) return;
  const sent = dialog.destroy({ headers: { Reason: `SIP;cause=200;text="${reasonText}"` } }) as unknown;
  if (sent instanceof Promise) sent.catch(() => undefined);
}

/**
 * Answers re-INVITEs in a dialog from its FreeSWITCH channel (hold/unhold, codec changes). Hold
 * (a=sendonly or a=inactive from the phone) is answered recvonly/inactive by FreeSWITCH, which
 * then plays the channel's hold music to whoever is bridged to it (the dialplan sets
 * `hold_music`), as a PBX would; unhold resumes the bridge. Overlapping re-INVITEs get 491/500
 * (reinvite-glare.ts); a session refresh (RFC 4028) is answered with the Session-Expires it asked.
 */
export function answerReinvitesFromMedia(leg: Leg, log: Logger): void {
  leg.dialog.on('modify', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
    const done = reinviteGate(leg.dialog).admit(res);
    if (!done) return;
    const timer = sessionRefreshAnswerHeaders(req);
    if (!req.body) {
      // A re-INVITE without SDP (session refresh) gets our current offer back.
      res.send(200, { body: leg.dialog.local.sdp, headers: { 'Content-Type': 'application/sdp', ...timer } });
      done();
      return;
    }
    leg.endpoint
      .modify(req.body)
      .then((sdp) => {
        leg.dialog.local.sdp = sdp;
        res.send(200, { body: sdp, headers: { 'Content-Type': 'application/sdp', ...timer } });
      })
      .catch((err: { status?: number; message?: string }) => {
        log.warn({ err: err.message, status: err.status }, 're-INVITE refused by the media server');
        res.send(err.status && err.status >= 400 ? err.status : 488);
      })
      .finally(done);
  });
}

/**
 * Only agents transfer: a REFER from the customer's leg gets 403 with a Warning (RFC 3515 §2.4.2
 * lets the recipient decline) and changes nothing. Without a listener drachtio-srf would answer
 * 200 and ignore it, telling the app a transfer was accepted.
 */
export function refuseCustomerRefer(dialog: Srf.Dialog, domain: string, log: Logger): void {
  dialog.on('refer', (_req: Srf.SrfRequest, res: Srf.SrfResponse) => {
    log.warn('REFER from the customer refused: customers cannot transfer calls');
    res.send(403, 'Forbidden', { headers: { Warning: warning(domain, 'customers cannot transfer calls') } });
  });
}

/** drachtio-srf emits 'destroy' with the BYE and, for a BYE it generated itself, its reason. */
function onDestroy(dialog: Srf.Dialog, fn: (req: unknown, reason: unknown) => void): void {
  (dialog as unknown as NodeJS.EventEmitter).on('destroy', fn);
}

/** Who ended a call: a party hanging up, FreeSWITCH, drachtio-server, or this service. */
export type EndedBy = 'customer' | 'agent' | 'media' | 'signalling' | 'server';

/** How long the end of a call is written again while the database is unavailable (outage-retry.ts: how often). */
const RECORD_RETRY_FOR_MS = 120_000;

/** One transfer's hold on a call (CustomerCall.claimTransfer); compared by identity. */
export interface TransferClaim {
  readonly claimedAt: number;
}

export class CustomerCall {
  readonly abort = new Abort();
  /** When this process took the call (ms since the epoch). */
  readonly startedAt = Date.now();
  /** Where the call is in its life (domain/live-call.ts); changed only by `move`. */
  private phase: LiveCallPhase = 'setting_up';
  private agentLeg: AgentLeg | null = null;
  private record: string | null = null;
  /** The record being opened for the call's setup (openRecord); awaited before the call is connected or closed. */
  private recordOpening: Promise<void> = Promise.resolve();
  /** True once the customer and an agent were bridged (and still after the call ended). */
  private wasConnected = false;
  /** True once callConnected opened the authenticated session (token calls only). */
  private sessionOpened = false;
  /** The transfer moving the call now (transfer.ts); null when none is. */
  private transferClaim: TransferClaim | null = null;
  private endedAt = 0;
  readonly log: Logger;

  constructor(
    readonly ctx: CallContext,
    readonly request: CallRequest,
    readonly sessionId: string,
    readonly customer: Leg,
    readonly verification: Verification | null,
    readonly direction: 'inbound' | 'outbound',
  ) {
    this.log = ctx.logger.child({ component: 'customer-call', requestId: request.id, session: sessionLabel(sessionId) });
  }

  get isEnded(): boolean {
    return this.phase === 'ended';
  }

  /** True once the customer and an agent were connected, and after that call ended. */
  get connected(): boolean {
    return this.wasConnected;
  }

  /** The agent's leg that has the call (first agent, then each transfer target); null before one answers. */
  get agent(): AgentLeg | null {
    return this.agentLeg;
  }

  /** The call's record (call_records row): opened at setup or when connected, replaced by each transfer. */
  get recordId(): string | null {
    return this.record;
  }

  /** The one place the phase changes: false, and no change, when the move is not allowed from here. */
  private move(event: LiveCallEvent): boolean {
    const next = nextPhase(this.phase, event);
    if (!next) return false;
    this.phase = next;
    return true;
  }

  /**
   * The agent's leg is bridged and the flows opened the session, recorded as `recordId`. False
   * when the call ended meanwhile: the session was opened after the end closed the call, and the
   * caller must close it.
   */
  connectedWith(recordId: string): boolean {
    this.record = recordId;
    this.sessionOpened = true;
    if (!this.move('connect')) return false;
    this.wasConnected = true;
    return true;
  }

  /** A transfer moved the call to a new record (transferAnswered). */
  recordMovedTo(recordId: string): void {
    this.record = recordId;
  }

  /** The record a callback opened before this object took the call over (outbound-callback.ts). */
  recordedAs(recordId: string | null): void {
    this.record = recordId;
  }

  /**
   * Ends a call whose agent leg answered but was never handed to it (the agent hung up while the
   * customer was being anchored): the leg is taken so the end releases its channel and frees the agent.
   */
  async endWithAgentLeg(leg: AgentLeg, outcome: Outcome, by: EndedBy): Promise<void> {
    if (!this.agentLeg) this.agentLeg = leg;
    await this.end(outcome, by);
  }

  /**
   * The FreeSWITCH channels and SIP dialogs of the customer and the current agent, for the record;
   * with each dialog's state, for a BYE after drachtio-server forgot it (dialog-state.ts).
   */
  legIds(): CallLegIds {
    const legs = this.agent ? [this.customer, this.agent] : [this.customer];
    return {
      mediaChannels: legs.map((l) => l.endpoint.uuid),
      sipDialogs: legs.map((l) => stackDialogId(l.dialog)),
      sipDialogStates: legs.map((l) => dialogStateOf(l.dialog)),
    };
  }

  /**
   * Opens the call's record while it is set up (callSetUp), with a first guess of its legs. A
   * database that cannot write it now does not stop the call: the record then opens when it connects.
   */
  openRecord(open: () => Promise<{ id: string }>): void {
    this.recordOpening = open().then(
      (r) => {
        this.record = r.id;
      },
      (e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record the call while it is set up; it is recorded when it connects'),
    );
  }

  /** Settles once the setup record is open (or could not be). */
  recordOpened(): Promise<void> {
    return this.recordOpening;
  }

  /** Adds legs (a ring, a channel) to the open record; best effort, like the record itself. */
  trackLegs(legs: { mediaChannels?: string[]; sipInvites?: string[]; sipDialogStates?: SipDialogState[] }): void {
    void this.recordOpening.then(async () => {
      if (!this.record || this.isEnded) return;
      await this.ctx.deps.store.callRecords.addLegs(this.record, legs).catch((e: unknown) => {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record a leg of the call');
      });
    });
  }

  /** A transfer is moving the call: the current agent hanging up does not end it. */
  get transferring(): boolean {
    return this.transferClaim !== null;
  }

  /**
   * Claims the call for one transfer; null when another transfer holds it. Synchronous, so a
   * REFER, a second REFER and a console transfer cannot all pass the check while one of them
   * awaits the database.
   */
  claimTransfer(): TransferClaim | null {
    if (this.transferClaim) return null;
    const claim: TransferClaim = { claimedAt: Date.now() };
    this.transferClaim = claim;
    return claim;
  }

  /** True while this claim is the one holding the call. */
  holdsTransfer(claim: TransferClaim): boolean {
    return this.transferClaim === claim;
  }

  /** Ends the claim (a no-op for a claim that no longer holds the call). */
  releaseTransfer(claim: TransferClaim): void {
    if (this.transferClaim === claim) this.transferClaim = null;
  }

  /**
   * Takes the call on: it joins this process's live calls (console transfers and the reconciler
   * find it there; `end` takes it out) and watches the customer's leg.
   */
  begin(): void {
    this.ctx.calls.add(this);
    this.watchCustomer();
  }

  /**
   * The customer hanging up ends the call; their re-INVITEs are answered by FreeSWITCH; a REFER
   * from them is refused (refuseCustomerRefer).
   */
  private watchCustomer(): void {
    refuseCustomerRefer(this.customer.dialog, this.ctx.deps.config.sip.domain, this.log);
    onDestroy(this.customer.dialog, (req, reason) => {
      if (endedBySessionExpiry(req, reason)) {
        // drachtio-server hung up: the app stopped refreshing the session (RFC 4028 §10).
        this.log.warn('customer session timer expired');
        void this.end(hangUpOutcome('customer', this.wasConnected, { sessionExpired: true }), 'customer');
        return;
      }
      this.log.info('customer hung up');
      void this.end(hangUpOutcome('customer', this.wasConnected), 'customer');
    });
    this.customer.endpoint.once('destroy', (evt?: { reason?: string }) => {
      if (!this.isEnded) {
        // FreeSWITCH's Hangup-Cause (e.g. NORMAL_CLEARING after a bridged partner hung up) when it told us.
        this.log.warn({ hangupCause: evt?.reason ?? null, agentId: this.agent?.agent.id ?? null }, 'the customer FreeSWITCH channel went away');
        // No Hangup-Cause means the channel's event socket closed without FreeSWITCH hanging the
        // channel up: FreeSWITCH itself went away (this socket may close before the main one does).
        const lost = !evt?.reason || !this.ctx.media.isConnected();
        void this.end(hangUpOutcome('media', this.wasConnected, { mediaLost: lost }), 'media');
      }
    });
    answerReinvitesFromMedia(this.customer, this.log);
  }

  /** The agent hanging up ends the call, unless a transfer is taking the customer elsewhere. */
  private watchAgent(leg: AgentLeg): void {
    onDestroy(leg.dialog, (req, reason) => {
      if (this.agentLeg !== leg) return;
      if (endedBySessionExpiry(req, reason) && !this.transferring) {
        this.log.warn({ agentId: leg.agent.id }, 'agent leg session timer expired');
        void this.end(hangUpOutcome('agent', this.wasConnected, { sessionExpired: true }), 'agent');
        return;
      }
      if (this.transferring) {
        this.log.info({ agentId: leg.agent.id }, 'transferring agent hung up; the customer waits for the transfer');
        void releaseEndpoint(leg.endpoint);
        return;
      }
      this.log.info({ agentId: leg.agent.id }, 'agent hung up');
      void this.end(hangUpOutcome('agent', this.wasConnected), 'agent');
    });
    answerReinvitesFromMedia(leg, this.log);
  }

  /**
   * Makes an answering agent leg the call's agent (first agent or transfer target) and watches
   * it. False when the customer cannot be given to it: the customer left meanwhile (that phone is
   * hung up and its agent freed) or the agent hung up before the listener was in place (nobody
   * heard that BYE: the call ends). `hungUpLog` is the log line for the latter.
   */
  async takeAgentLeg(leg: AgentLeg, hungUpLog: string): Promise<boolean> {
    if (this.isEnded) {
      hangUp(leg.dialog, 'caller hung up');
      await releaseEndpoint(leg.endpoint);
      await agentDidNotAnswer(this.ctx.deps, { requestId: this.request.id, agentId: leg.agent.id, outcome: 'abandoned' });
      return false;
    }
    this.agentLeg = leg;
    this.watchAgent(leg);
    if (!isUp(leg.dialog)) {
      this.log.info({ agentId: leg.agent.id }, hungUpLog);
      await this.end(hangUpOutcome('agent', this.wasConnected), 'agent');
      return false;
    }
    return true;
  }

  /**
   * Ends the call once: hangs up whichever legs are still up, releases their FreeSWITCH
   * channels, and has the flows revoke the session and close the call record.
   */
  async end(outcome: Outcome, by: EndedBy): Promise<void> {
    if (!this.move('end')) return;
    this.endedAt = Date.now();
    // The moment of the end, before the waits below (a dead FreeSWITCH holds the release for its bound).
    const endedAt = this.ctx.deps.clock();
    this.abort.abort();
    this.ctx.calls.remove(this);
    if (by !== 'customer') hangUp(this.customer.dialog, `call ended by ${by}`);
    const agent = this.agentLeg;
    if (agent && by !== 'agent') hangUp(agent.dialog, `call ended by ${by}`);
    // Bounded by releaseEndpoint: a FreeSWITCH that died mid-call never answers, and the records must still close.
    await Promise.all([releaseEndpoint(this.customer.endpoint), releaseEndpoint(agent?.endpoint)]);
    await this.recordOpening;
    // The end is known only here: while the database is away (a restart), keep trying to write
    // it, with the moment it happened. Each step of callEnded is conditional, so a retry after a
    // half-written try is safe.
    await retryThroughOutage(
      () =>
        callEnded(this.ctx.deps, {
          requestId: this.request.id,
          sessionId: this.sessionOpened ? this.sessionId : null,
          recordId: this.record,
          agentId: agent?.agent.id ?? null,
          outcome,
          endedAt,
          // Never connected: the request is still as call setup left it (saves reading it again).
          ...(this.wasConnected ? {} : { known: this.request }),
        }),
      { log: this.log, what: 'record the end of the call', keepTrying: () => Date.now() - this.endedAt < RECORD_RETRY_FOR_MS },
    ).catch(() => undefined); // logged by retryThroughOutage
    this.log.info({ outcome, endedBy: by }, 'customer call ended');
  }
}

/**
 * A call set up outside a CustomerCall (an agent-dialled callback while the agent waits for the
 * app): what the reconciler needs to end it when a component dies under it.
 */
export interface CallSetupHold {
  /** Ends the setup now, with the cause (its flow records the end). */
  lose(cause: LostCallCause): void;
  /** drachtio-server dialog ids of the legs it holds, for a BYE once drachtio-server is back. */
  sipDialogs(): string[];
}

/** Calls in progress, found by session id (transfers from the console) or by an agent's dialog. */
export class ActiveCalls {
  private readonly bySession = new Map<string, CustomerCall>();
  private readonly held = new Set<CallSetupHold>();

  /** Holds a setup until the returned release is called. */
  holdSetup(hold: CallSetupHold): () => void {
    this.held.add(hold);
    return () => this.held.delete(hold);
  }

  setups(): CallSetupHold[] {
    return [...this.held];
  }

  add(call: CustomerCall): void {
    this.bySession.set(call.sessionId, call);
  }

  remove(call: CustomerCall): void {
    if (this.bySession.get(call.sessionId) === call) this.bySession.delete(call.sessionId);
  }

  get(sessionId: string): CustomerCall | undefined {
    return this.bySession.get(sessionId);
  }

  get size(): number {
    return this.bySession.size;
  }

  all(): CustomerCall[] {
    return [...this.bySession.values()];
  }

  /** Ends every call: shutdown by default, or a component lost under them (call-reconciler.ts). */
  async endAll(outcome: Outcome = 'failed', by: EndedBy = 'server'): Promise<void> {
    await Promise.all(this.all().map((c) => c.end(outcome, by)));
  }
}
