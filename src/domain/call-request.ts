/**
 * The call request life cycle (SPEC core flow 1) as an explicit state machine.
 *
 *   requested -> notified -> accepted -> authenticated -> connecting -> connected -> ended
 *   notified -> scheduled -> due -> prompted | agent_dialled
 *   prompted -> agent_dialled      (an agent takes the callback the customer has not placed)
 *   agent_dialled -> connecting   (the app answers a dialled callback: accept and authenticate
 *                                  record the device and method but the request stays
 *                                  agent_dialled, so its token can only answer that callback)
 *   notified -> snoozed -> notified (the reminder opens a fresh answer window; until it comes the
 *                                  snoozed request can still be accepted)
 *   notified -> expired            (schedule still allowed, accept refused)
 *   accepted | authenticated -> accepted   (the same device accepts again: a fresh authentication)
 *   accepted | authenticated -> notified | expired   (lapse: the hold ran out with no call set up;
 *                                  back to the customer while the answer window is open, else
 *                                  expired with outcome no_call (verified) or not_verified
 *                                  (accepted only); a prompted callback goes back
 *                                  to prompted)
 *   any open state -> cancelled    (by the agent)
 *
 * Pure: time is passed in, nothing is read or written. Adapters persist the result with a
 * compare-and-set on `version`, so two concurrent answers resolve to exactly one outcome.
 */
import { AppError } from './errors.js';

export const CALL_REQUEST_STATES = [
  'requested',
  'notified',
  'snoozed',
  'accepted',
  'authenticated',
  'connecting',
  'connected',
  'ended',
  'expired',
  'scheduled',
  'due',
  'prompted',
  'agent_dialled',
  'cancelled',
] as const;
export type CallRequestState = (typeof CALL_REQUEST_STATES)[number];

export type AuthMethod = 'biometric' | 'pin';
export type CallbackMode = 'customer_calls' | 'agent_calls';
/**
 * What a pre-authentication token may do: place a call ('call'), or answer the agent-dialled
 * callback it was obtained for ('callback-answer'), never the other.
 */
export type TokenUse = 'call' | 'callback-answer';

/** The use of a token issued now for a request in this state. */
export function tokenUseFor(state: CallRequestState): TokenUse {
  return state === 'agent_dialled' ? 'callback-answer' : 'call';
}

/** How a request finished; stored with the request and the call record. */
export type Outcome =
  | 'completed'
  | 'cancelled'
  | 'abandoned'
  | 'no_answer'
  | 'busy'
  | 'failed'
  | 'gave_up'
  /** Verified, but no call was set up before the hold and the answer window ran out. */
  | 'no_call'
  /** Accepted, but the customer did not verify before the hold and the answer window ran out. */
  | 'not_verified'
  | CancelOutcome
  | LostCallCause;

/**
 * Why a request was cancelled: `cancelled` by an agent (or a supervisor, an integration),
 * `cancelled_by_customer` (a scheduled callback called off in the app), `unreachable` (no channel
 * could notify the customer), `superseded` (closed for the agent's newer knock).
 */
export type CancelOutcome = 'cancelled' | 'cancelled_by_customer' | 'unreachable' | 'superseded';

/** A call that ended because a component under it died (call-liveness). */
export type LostCallCause = 'media_lost' | 'signalling_lost' | 'service_restarted' | 'instance_lost';

/** Every outcome, for the API's document and the stored values' check. */
export const OUTCOMES: readonly Outcome[] = [
  'completed', 'cancelled', 'abandoned', 'no_answer', 'busy', 'failed', 'gave_up', 'no_call', 'not_verified',
  'cancelled_by_customer', 'unreachable', 'superseded',
  'media_lost', 'signalling_lost', 'service_restarted', 'instance_lost',
];
export const LOST_CALL_CAUSES: ReadonlySet<Outcome> = new Set<LostCallCause>(['media_lost', 'signalling_lost', 'service_restarted', 'instance_lost']);

export type CallRequestEvent =
  | { type: 'notify' }
  /** `holdUntil`: how long the request is held for the authentication (the challenge's life). */
  | { type: 'accept'; deviceId: string; holdUntil?: Date }
  /** `holdUntil`: how long it is held for the call (the token's life, plus a margin for call setup). */
  | { type: 'authenticate'; deviceId: string; method: AuthMethod; holdUntil?: Date }
  /** `use`: what the presented token was issued for (preauth-token.ts); a plain call by default. */
  | { type: 'call_setup'; use?: TokenUse }
  | { type: 'call_answered' }
  | { type: 'call_ended'; outcome: Outcome }
  | { type: 'expire' }
  | { type: 'snooze'; until: Date }
  /** `answerDeadline`: the end of the fresh answer window the reminder opens. */
  | { type: 'remind'; answerDeadline: Date }
  /** The hold of an accepted or verified request ran out without a call being set up. */
  | { type: 'lapse' }
  | { type: 'schedule'; at: Date; note: string | null }
  | { type: 'callback_due' }
  | { type: 'prompt_customer' }
  | { type: 'dial_agent'; agentId: string }
  | { type: 'callback_failed'; outcome: Outcome; retryAt: Date | null }
  | { type: 'cancel'; by: string; outcome?: CancelOutcome };

/** The part of a stored request the machine reads and changes. */
export interface CallRequestSnapshot {
  state: CallRequestState;
  answerDeadline: Date;
  agentId: string;
  acceptedDeviceId: string | null;
  authMethod: AuthMethod | null;
  authenticatedAt: Date | null;
  scheduledFor: Date | null;
  scheduleNote: string | null;
  snoozeUntil: Date | null;
  /**
   * Until when an accepted or verified request is held for the customer's next step (the
   * authentication, then the call); null in every other state. Its lapse job moves it on.
   */
  holdUntil: Date | null;
  attempts: number;
  outcome: Outcome | null;
}

const OPEN_FOR_CANCEL: ReadonlySet<CallRequestState> = new Set([
  'requested',
  'notified',
  'snoozed',
  'accepted',
  'authenticated',
  'expired',
  'scheduled',
  'due',
  'prompted',
]);

/** States in which the customer may still answer with Schedule. */
const SCHEDULABLE: ReadonlySet<CallRequestState> = new Set([
  'notified',
  'snoozed',
  'expired',
  'scheduled',
  'prompted',
]);

/** States held for the customer's next step, each with a bounded hold (holdUntil). */
export const HELD_STATES: ReadonlySet<CallRequestState> = new Set(['accepted', 'authenticated']);

export const TERMINAL_STATES: ReadonlySet<CallRequestState> = new Set(['ended', 'cancelled']);

export function isTerminal(state: CallRequestState): boolean {
  return TERMINAL_STATES.has(state);
}

function refuse(from: CallRequestState, event: CallRequestEvent['type'], why: string): AppError {
  return new AppError('illegal_transition', `Cannot ${event.replace('_', ' ')} a call request that is ${from}: ${why}.`, {
    state: from,
    event,
  });
}

/**
 * Applies one event. Returns the next snapshot, or throws an AppError saying why the event is
 * refused; a refused event changes nothing.
 */
export function applyEvent(
  current: CallRequestSnapshot,
  event: CallRequestEvent,
  now: Date,
): CallRequestSnapshot {
  const next = decide(current, event, now);
  // A hold only lives in the states it holds; every other state drops it (and its lapse job).
  return HELD_STATES.has(next.state) ? next : next.holdUntil === null ? next : { ...next, holdUntil: null };
}

function decide(current: CallRequestSnapshot, event: CallRequestEvent, now: Date): CallRequestSnapshot {
  const s = current.state;
  const next = (patch: Partial<CallRequestSnapshot>): CallRequestSnapshot => ({ ...current, ...patch });

  switch (event.type) {
    case 'notify':
      if (s !== 'requested') throw refuse(s, event.type, 'only a new request is notified');
      return next({ state: 'notified' });

    case 'accept':
      if (s === 'expired' || ((s === 'notified' || s === 'snoozed') && now >= current.answerDeadline)) {
        throw new AppError(
          'request_expired',
          'The agent is no longer waiting for this call; you can still schedule a call.',
          { state: s, answerDeadline: current.answerDeadline.toISOString() },
        );
      }
      // agent_dialled: an agent-dialled callback is ringing the app, which answers after the
      // customer's biometric or PIN (the same ceremony as a knock). The request stays
      // agent_dialled: it is not a call the customer may place, only one to answer.
      if (s === 'agent_dialled') {
        if (current.acceptedDeviceId && current.acceptedDeviceId !== event.deviceId) {
          throw new AppError('conflict', 'This call was already answered on another device.', { state: s });
        }
        return next({ acceptedDeviceId: event.deviceId, authMethod: null, authenticatedAt: null });
      }
      if (s !== 'notified' && s !== 'snoozed' && s !== 'prompted' && s !== 'accepted' && s !== 'authenticated') {
        throw refuse(s, event.type, 'it is not waiting for an answer');
      }
      // Accepting again on the same device (a call that failed after the biometric, or a lost
      // challenge) starts a fresh authentication; another device cannot take it meanwhile.
      if ((s === 'accepted' || s === 'authenticated') && current.acceptedDeviceId !== event.deviceId) {
        throw new AppError('conflict', 'This call was already accepted on another device.', { state: s });
      }
      return next({
        state: 'accepted',
        acceptedDeviceId: event.deviceId,
        authMethod: null,
        authenticatedAt: null,
        snoozeUntil: null,
        holdUntil: event.holdUntil ?? null,
      });

    case 'authenticate':
      if (s !== 'accepted' && !(s === 'agent_dialled' && current.acceptedDeviceId)) throw refuse(s, event.type, 'accept the call first');
      if (current.acceptedDeviceId !== event.deviceId) {
        throw new AppError('forbidden', 'This call was accepted on another device.', { state: s });
      }
      // A dialled callback stays agent_dialled until its answer is admitted (call_setup).
      return next({
        state: s === 'agent_dialled' ? s : 'authenticated',
        authMethod: event.method,
        authenticatedAt: now,
        holdUntil: event.holdUntil ?? null,
      });

    case 'call_setup':
      if (s === 'agent_dialled') {
        // Only the answer to this callback, with a token obtained for it, sets it up.
        if (event.use !== 'callback-answer') throw refuse(s, event.type, 'an agent is calling the customer back; only the answer to that call connects');
        if (!current.authenticatedAt) throw refuse(s, event.type, 'the customer is not verified for a call');
        return next({ state: 'connecting' });
      }
      if (s !== 'authenticated') throw refuse(s, event.type, 'the customer is not verified for a call');
      if (event.use === 'callback-answer') throw refuse(s, event.type, 'no callback is ringing for this request');
      return next({ state: 'connecting' });

    case 'call_answered':
      if (s !== 'connecting') throw refuse(s, event.type, 'no call is being set up');
      return next({ state: 'connected' });

    case 'call_ended':
      if (s !== 'connecting' && s !== 'connected' && s !== 'authenticated' && s !== 'agent_dialled') {
        throw refuse(s, event.type, 'no call is in progress');
      }
      return next({ state: 'ended', outcome: event.outcome });

    case 'expire':
      // Only a request still waiting for the customer's first answer expires; an accepted one
      // has its own hold (lapse), a snoozed one stays answerable until its reminder.
      if (s !== 'notified' && s !== 'snoozed') throw refuse(s, event.type, 'it is not waiting for an answer');
      if (s === 'snoozed' && current.snoozeUntil && now < current.snoozeUntil) {
        throw refuse(s, event.type, 'it stays answerable until its reminder');
      }
      return next({ state: 'expired', snoozeUntil: null });

    case 'lapse': {
      if (!HELD_STATES.has(s)) throw refuse(s, event.type, 'it is not held for a call');
      if (current.holdUntil && now < current.holdUntil) throw refuse(s, event.type, 'its hold has not run out');
      const cleared = { acceptedDeviceId: null, authMethod: null, authenticatedAt: null };
      // A callback the customer was prompted to place goes back to that prompt (they may place it
      // again or pick another time); it has no answer window of its own.
      if (current.scheduledFor !== null) return next({ state: 'prompted', ...cleared });
      // Back to the customer to try again with a fresh authentication while the answer window
      // is open; after it, only scheduling is left, and the outcome says why: verified but no
      // call, or accepted but never verified (the agent must not read the latter as verified).
      if (now < current.answerDeadline) return next({ state: 'notified', ...cleared });
      return next({ state: 'expired', ...cleared, outcome: s === 'authenticated' ? 'no_call' : 'not_verified' });
    }

    case 'snooze':
      if (s !== 'notified') throw refuse(s, event.type, 'only a pending notification can be put off');
      if (now >= current.answerDeadline) {
        throw new AppError('request_expired', 'The agent is no longer waiting for this call; you can still schedule a call.', {
          state: s,
        });
      }
      if (event.until <= now) throw new AppError('validation_failed', 'The reminder time must be in the future.');
      // The request stays answerable until the reminder, even past the original deadline; the
      // reminder then opens a fresh answer window (remind).
      return next({
        state: 'snoozed',
        snoozeUntil: event.until,
        answerDeadline: event.until > current.answerDeadline ? event.until : current.answerDeadline,
      });

    case 'remind':
      if (s !== 'snoozed') throw refuse(s, event.type, 'no reminder is pending');
      return next({ state: 'notified', snoozeUntil: null, answerDeadline: event.answerDeadline });

    case 'schedule':
      if (!SCHEDULABLE.has(s)) throw refuse(s, event.type, 'it can no longer be scheduled');
      if (event.at <= now) throw new AppError('in_the_past', 'The chosen time has already passed; pick a later time.');
      return next({ state: 'scheduled', scheduledFor: event.at, scheduleNote: event.note, snoozeUntil: null });

    case 'callback_due':
      if (s !== 'scheduled') throw refuse(s, event.type, 'it is not scheduled');
      return next({ state: 'due' });

    case 'prompt_customer':
      if (s !== 'due') throw refuse(s, event.type, 'the callback is not due');
      return next({ state: 'prompted' });

    case 'dial_agent':
      // From 'prompted' too: an agent may take a callback the customer was asked to place but has not.
      if (s !== 'due' && s !== 'prompted') throw refuse(s, event.type, 'the callback is not due');
      // A new attempt: whoever answered an earlier one must answer (and verify) again.
      return next({
        state: 'agent_dialled',
        agentId: event.agentId,
        attempts: current.attempts + 1,
        acceptedDeviceId: null,
        authMethod: null,
        authenticatedAt: null,
      });

    case 'callback_failed':
      // agent_dialled covers a callback the customer answered in the app that did not connect
      // (declined, bad proof, agent gone): answering does not move it.
      if (s !== 'agent_dialled' && s !== 'connecting' && s !== 'due' && s !== 'prompted') {
        throw refuse(s, event.type, 'no callback attempt is in progress');
      }
      if (event.retryAt) return next({ state: 'scheduled', scheduledFor: event.retryAt, outcome: event.outcome });
      // Out of attempts: the customer is asked to pick a new time (schedule allowed, accept not).
      return next({ state: 'expired', outcome: 'gave_up' });

    case 'cancel':
      if (!OPEN_FOR_CANCEL.has(s)) throw refuse(s, event.type, 'it is already finished or in a call');
      return next({ state: 'cancelled', outcome: event.outcome ?? 'cancelled', snoozeUntil: null });
  }
}

/** What the customer may do now; drives the notification's buttons and the API's answers. */
export function allowedAnswers(
  req: Pick<CallRequestSnapshot, 'state' | 'answerDeadline'> & Partial<Pick<CallRequestSnapshot, 'acceptedDeviceId'>>,
  now: Date,
  deviceId?: string,
) {
  const waiting = req.state === 'notified' || req.state === 'snoozed' || req.state === 'prompted';
  const inTime = req.state === 'prompted' || now < req.answerDeadline;
  // The device that accepted may accept again (a fresh authentication, the app's "Try again");
  // another device may not (see 'accept' in applyEvent).
  const again = deviceId !== undefined && HELD_STATES.has(req.state) && req.acceptedDeviceId === deviceId;
  return {
    accept: (waiting && inTime) || again,
    schedule: SCHEDULABLE.has(req.state),
    snooze: req.state === 'notified' && now < req.answerDeadline,
  };
}
