/** How a call request's state reads in the console, and how it looks (badge tone). */
import { dateTime, when } from '../shared/format.js';

const METHOD = { biometric: 'biometric', pin: 'PIN' };

/**
 * Why a request ended, was cancelled or a callback attempt failed, in the agent's words: every
 * outcome of src/domain/call-request.ts. An outcome added later still reads (underscores as spaces).
 */
export const OUTCOME = {
  completed: 'call completed',
  cancelled: 'cancelled by the agent',
  cancelled_by_customer: 'cancelled by the customer',
  unreachable: 'customer unreachable (no app, push or SMS could be reached)',
  superseded: 'replaced by a newer request',
  abandoned: 'the customer hung up before an agent answered',
  no_answer: 'no answer',
  busy: 'busy',
  failed: 'the call failed',
  gave_up: 'every callback attempt failed',
  no_call: 'verified, but no call came in time',
  not_verified: 'accepted, but not verified in time',
  media_lost: 'the audio connection was lost',
  signalling_lost: 'the call signalling was lost',
  service_restarted: 'the service restarted during the call',
  instance_lost: 'the server handling the call stopped',
};

export function outcomeText(outcome) {
  return outcome ? OUTCOME[outcome] ?? outcome.replace(/_/g, ' ') : '';
}

/**
 * @param {any} r  a request as the API returns it
 * @returns {{ text: string, tone: 'ok'|'warn'|'bad'|'info'|'' }}
 */
export function stateLabel(r) {
  const how = r.verification ? `${METHOD[r.verification.method] || r.verification.method} at ${when(r.verification.at)}` : '';
  switch (r.state) {
    case 'requested':
      return { text: 'Sending…', tone: '' };
    case 'notified':
      return { text: `Notified — answer by ${when(r.answerDeadline)}`, tone: 'info' };
    case 'snoozed':
      return { text: `Remind me later — reminder at ${when(r.snoozeUntil)}, can accept until then`, tone: 'info' };
    case 'accepted':
      return { text: 'Accepted — customer verifying', tone: 'info' };
    case 'authenticated':
      return { text: `Verified (${how})`, tone: 'ok' };
    case 'connecting':
      return { text: `Verified (${how}) — calling`, tone: 'ok' };
    case 'connected':
      return { text: `In call — verified (${how})`, tone: 'ok' };
    case 'ended':
      return { text: `Ended${r.outcome ? ` — ${outcomeText(r.outcome)}` : ''}`, tone: r.outcome && r.outcome !== 'completed' ? 'bad' : '' };
    case 'expired':
      if (r.outcome === 'no_call') return { text: 'Expired — verified, but no call came in time', tone: 'warn' };
      if (r.outcome === 'not_verified') return { text: 'Expired — accepted, but not verified in time', tone: 'warn' };
      if (r.outcome === 'gave_up') return { text: 'Expired — callback attempts used up', tone: 'warn' };
      return { text: `Expired — ${r.outcome ? outcomeText(r.outcome) : 'no answer in time'}`, tone: 'warn' };
    case 'scheduled':
      // A retry after a failed attempt says what happened to the last one.
      return { text: `Scheduled for ${dateTime(r.scheduledFor)}${r.outcome ? ` — last attempt: ${outcomeText(r.outcome)}` : ''}`, tone: 'info' };
    case 'due':
      return { text: 'Callback due', tone: 'warn' };
    case 'prompted':
      return { text: 'Callback due — customer prompted', tone: 'warn' };
    case 'agent_dialled':
      return { text: 'Calling the customer back', tone: 'info' };
    case 'cancelled':
      return { text: `Cancelled — ${outcomeText(r.outcome || 'cancelled')}`, tone: 'bad' };
    default:
      return { text: r.state, tone: '' };
  }
}

export const OPEN_STATES = new Set(['requested', 'notified', 'snoozed', 'accepted', 'authenticated', 'expired', 'scheduled', 'due', 'prompted']);
