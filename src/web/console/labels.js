/** How a call request's state reads in the console, and how it looks (badge tone). */
import { dateTime, time } from '../shared/format.js';

const METHOD = { biometric: 'biometric', pin: 'PIN' };

/**
 * @param {any} r  a request as the API returns it
 * @returns {{ text: string, tone: 'ok'|'warn'|'bad'|'info'|'' }}
 */
export function stateLabel(r) {
  const how = r.verification ? `${METHOD[r.verification.method] || r.verification.method} at ${time(r.verification.at)}` : '';
  switch (r.state) {
    case 'requested':
      return { text: 'Sending…', tone: '' };
    case 'notified':
      return { text: `Notified — answer by ${time(r.answerDeadline)}`, tone: 'info' };
    case 'snoozed':
      return { text: `Remind me later — reminder at ${time(r.snoozeUntil)}, can accept until then`, tone: 'info' };
    case 'accepted':
      return { text: 'Accepted — customer verifying', tone: 'info' };
    case 'authenticated':
      return { text: `Verified (${how})`, tone: 'ok' };
    case 'connecting':
      return { text: `Verified (${how}) — calling`, tone: 'ok' };
    case 'connected':
      return { text: `In call — verified (${how})`, tone: 'ok' };
    case 'ended':
      return { text: `Ended${r.outcome ? ` — ${r.outcome.replace(/_/g, ' ')}` : ''}`, tone: '' };
    case 'expired':
      if (r.outcome === 'no_call') return { text: 'Expired — verified, but no call came in time', tone: 'warn' };
      if (r.outcome === 'gave_up') return { text: 'Expired — callback attempts used up', tone: 'warn' };
      return { text: 'Expired — no answer in time', tone: 'warn' };
    case 'scheduled':
      return { text: `Scheduled for ${dateTime(r.scheduledFor)}`, tone: 'info' };
    case 'due':
      return { text: 'Callback due', tone: 'warn' };
    case 'prompted':
      return { text: 'Callback due — customer prompted', tone: 'warn' };
    case 'agent_dialled':
      return { text: 'Calling the customer back', tone: 'info' };
    case 'cancelled':
      return { text: 'Cancelled', tone: 'bad' };
    default:
      return { text: r.state, tone: '' };
  }
}

export const OPEN_STATES = new Set(['requested', 'notified', 'snoozed', 'accepted', 'authenticated', 'expired', 'scheduled', 'due', 'prompted']);
