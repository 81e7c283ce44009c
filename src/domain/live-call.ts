/**
 * The life of one live customer call, as the object that owns it keeps it
 * (calls/customer-call-state.ts), in the manner of SIP.js's `Session` and its guarded
 * `stateTransition()`:
 *
 *   setting_up ──connect──► connected ──end──► ended
 *        └──────────────────────end──────────────┘
 *
 * `connect` is the agent bridged and the session opened; `end` happens once, whoever ends the
 * call. Any other move is refused (null), so a late bridge cannot revive an ended call and a
 * second hang-up cannot end it twice. Which outcome a hang-up records depends on the phase it
 * finds, decided here too.
 *
 * Pure: no I/O, no clock.
 */
import type { Outcome } from './call-request.js';

export type LiveCallPhase = 'setting_up' | 'connected' | 'ended';
export type LiveCallEvent = 'connect' | 'end';

const MOVES: Record<LiveCallPhase, Partial<Record<LiveCallEvent, LiveCallPhase>>> = {
  setting_up: { connect: 'connected', end: 'ended' },
  connected: { end: 'ended' },
  ended: {},
};

/** The phase `event` leads to from `phase`; null when the call cannot make that move. */
export function nextPhase(phase: LiveCallPhase, event: LiveCallEvent): LiveCallPhase | null {
  return MOVES[phase][event] ?? null;
}

/**
 * What the call's end records when a party or a component ends it, from what ended it and
 * whether the customer and an agent were ever connected: a caller leaving before any agent took
 * the call abandoned it; FreeSWITCH gone from under the call is `media_lost`; a channel that
 * FreeSWITCH hung up while the call was still being set up is a failure.
 */
export function hangUpOutcome(by: 'customer' | 'agent' | 'media', wasConnected: boolean, opts: { mediaLost?: boolean; sessionExpired?: boolean } = {}): Outcome {
  if (opts.sessionExpired) return 'failed';
  if (by === 'media' && opts.mediaLost) return 'media_lost';
  if (wasConnected) return 'completed';
  if (by === 'customer') return 'abandoned';
  return by === 'agent' ? 'completed' : 'failed';
}
