/**
 * What a customer's device receives for a call request (SPEC core flow 1, steps 2, 5 and 6):
 * who wants to call, about which case and why, which answers are still possible, and a link into
 * the web app. The same payload feeds every channel: web push sends it as JSON, SMS sends its
 * body and link as text.
 *
 * Pure: the caller passes the ids and times in.
 */
import { allowedAnswers } from '../domain/call-request.js';
import type { Language } from '../domain/language.js';
import type { CallRequest, NotificationKind } from '../domain/model.js';

/** The kinds a customer's device can receive ('callback_agent' goes to agents, not here). */
export type CustomerNotificationKind = Exclude<NotificationKind, 'callback_agent'>;

export interface NotificationActions {
  accept: boolean;
  schedule: boolean;
  snooze: boolean;
}

export interface NotificationPayload {
  notificationId: string;
  /** The notification this one takes the place of on the device, if any. */
  replaces: string | null;
  kind: CustomerNotificationKind;
  callRequestId: string;
  agentName: string;
  reference: string;
  reason: string;
  actions: NotificationActions;
  /** ISO 8601; after this the notification is no longer worth showing. */
  expiresAt: string;
  remindChoicesMinutes: number[];
  /** Deep link into the web app for this request. */
  url: string;
  /** The language of title and body (and of the SMS text). */
  language: Language;
  title: string;
  body: string;
}

export interface PayloadInput {
  notificationId: string;
  replaces: string | null;
  kind: CustomerNotificationKind;
  request: Pick<CallRequest, 'id' | 'reference' | 'reason' | 'state' | 'answerDeadline'>;
  agentName: string;
  /** The name customers know the service by, e.g. "Acme". */
  companyName: string;
  expiresAt: Date;
  remindChoicesMinutes: number[];
  publicUrl: string;
  now: Date;
  /** The device's language (its app's); English when not known. */
  language?: Language;
}

// A web push message carries at most 4096 bytes after encryption (RFC 8291 §4, RFC 8030 §7.2);
// long free text is cut here so the whole payload always fits. The app shows the full request
// from the link.
const MAX_NAME = 80;
const MAX_REFERENCE = 64;
const MAX_REASON = 300;

/** What each kind offers at most. Expired: the agent has moved on, only scheduling is left. */
const ACTIONS: Record<CustomerNotificationKind, NotificationActions> = {
  knock: { accept: true, schedule: true, snooze: true },
  reminder: { accept: true, schedule: true, snooze: true },
  expired: { accept: false, schedule: true, snooze: false },
  callback_prompt: { accept: true, schedule: true, snooze: false },
  // The agent is dialling: the app registers and the call rings it; nothing to choose here.
  callback_incoming: { accept: false, schedule: false, snooze: false },
};

/**
 * The buttons to show: what the kind offers, narrowed by what the request's state still allows
 * (a reminder after the deadline cannot offer Accept; one for a rescheduled callback offers only
 * Schedule). A request still 'requested' is being notified in this very step, so it counts as
 * 'notified'.
 */
export function actionsFor(
  kind: CustomerNotificationKind,
  request: Pick<CallRequest, 'state' | 'answerDeadline'>,
  now: Date,
): NotificationActions {
  const state = request.state === 'requested' ? 'notified' : request.state;
  const allowed = allowedAnswers({ state, answerDeadline: request.answerDeadline }, now);
  const offered = ACTIONS[kind];
  return {
    accept: offered.accept && allowed.accept,
    schedule: offered.schedule && allowed.schedule,
    snooze: offered.snooze && allowed.snooze,
  };
}

/** `${publicUrl}/app/#/requests/<id>`: the web app's page for one call request. */
export function requestLink(publicUrl: string, callRequestId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/app/#/requests/${encodeURIComponent(callRequestId)}`;
}

/** One line of plain text: no control characters or line breaks (they would break SMS layout). */
function oneLine(text: string, max: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

type Text = { title: string; body: string };

/** Title and body per kind and language; `who` is "Anna Agent from Acme", `ref` the case. */
const TEXT: Record<Language, { from: string; kinds: Record<CustomerNotificationKind, (who: string, ref: string) => Text>; sms: { open: string; answer: string; schedule: string } }> = {
  en: {
    from: 'from',
    kinds: {
      knock: (who, ref) => ({ title: `Call request: case ${ref}`, body: `${who} would like to call you about case ${ref}.` }),
      reminder: (who, ref) => ({ title: `Reminder: case ${ref}`, body: `Reminder: ${who} would like to call you about case ${ref}.` }),
      expired: (who, ref) => ({
        title: `Missed call request: case ${ref}`,
        body: `${who} has moved on to other customers. You can still schedule a call about case ${ref}.`,
      }),
      callback_prompt: (who, ref) => ({
        title: `Your scheduled call: case ${ref}`,
        body: `It is time for your scheduled call with ${who} about case ${ref}. Call now or pick another time.`,
      }),
      callback_incoming: (who, ref) => ({ title: `${who} is calling you: case ${ref}`, body: `Your scheduled call about case ${ref} is starting. Open the app to answer.` }),
    },
    sms: { open: 'Open the app', answer: 'Answer here', schedule: 'Schedule a call here' },
  },
  de: {
    from: 'von',
    kinds: {
      knock: (who, ref) => ({ title: `Anrufanfrage: Vorgang ${ref}`, body: `${who} möchte Sie zum Vorgang ${ref} anrufen.` }),
      reminder: (who, ref) => ({ title: `Erinnerung: Vorgang ${ref}`, body: `Erinnerung: ${who} möchte Sie zum Vorgang ${ref} anrufen.` }),
      expired: (who, ref) => ({
        title: `Verpasste Anrufanfrage: Vorgang ${ref}`,
        body: `${who} kümmert sich inzwischen um andere Kunden. Einen Anruf zum Vorgang ${ref} können Sie weiterhin vereinbaren.`,
      }),
      callback_prompt: (who, ref) => ({
        title: `Ihr vereinbarter Anruf: Vorgang ${ref}`,
        body: `Es ist Zeit für Ihren vereinbarten Anruf mit ${who} zum Vorgang ${ref}. Rufen Sie jetzt an oder wählen Sie eine andere Zeit.`,
      }),
      callback_incoming: (who, ref) => ({ title: `${who} ruft Sie an: Vorgang ${ref}`, body: `Ihr vereinbarter Anruf zum Vorgang ${ref} beginnt. Öffnen Sie die App, um ihn anzunehmen.` }),
    },
    sms: { open: 'App öffnen', answer: 'Hier antworten', schedule: 'Hier einen Anruf vereinbaren' },
  },
};

export function buildNotificationPayload(input: PayloadInput): NotificationPayload {
  const agentName = oneLine(input.agentName, MAX_NAME);
  const company = oneLine(input.companyName, MAX_NAME);
  const reference = oneLine(input.request.reference, MAX_REFERENCE);
  const language = input.language ?? 'en';
  const text = TEXT[language];
  const who = company ? `${agentName} ${text.from} ${company}` : agentName;
  return {
    notificationId: input.notificationId,
    replaces: input.replaces,
    kind: input.kind,
    callRequestId: input.request.id,
    agentName,
    reference,
    reason: oneLine(input.request.reason, MAX_REASON),
    actions: actionsFor(input.kind, input.request, input.now),
    expiresAt: input.expiresAt.toISOString(),
    remindChoicesMinutes: [...input.remindChoicesMinutes],
    url: requestLink(input.publicUrl, input.request.id),
    language,
    ...text.kinds[input.kind](who, reference),
  };
}

/**
 * The text message for the SMS fallback: the sentence and the link. The reason is left out on
 * purpose: SMS is not end-to-end encrypted, the app shows it behind the link.
 */
export function smsText(payload: NotificationPayload): string {
  const sms = TEXT[payload.language].sms;
  const cta = payload.kind === 'callback_incoming' ? sms.open : payload.actions.accept ? sms.answer : sms.schedule;
  return `${payload.body} ${cta}: ${payload.url}`;
}
