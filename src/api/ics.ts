/** An iCalendar (RFC 5545) entry for a scheduled call, for the customer's calendar. */
import type { CallbackMode } from '../domain/call-request.js';
import type { Language } from '../domain/language.js';
import type { CallRequest } from '../domain/model.js';

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * RFC 5545 §3.3.11: backslash, semicolon and comma are escaped in TEXT, and every line break
 * (CRLF, a bare LF or a bare CR) becomes "\n"; a bare CR left in would end the line early for some
 * readers. Other control characters are not allowed in TEXT (TSAFE-CHAR) and are dropped, except
 * the tab.
 */
function escapeText(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** RFC 5545 §3.1: lines longer than 75 octets are folded. */
function fold(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  if (bytes.length <= 75) return line;
  const parts: string[] = [];
  let current = '';
  for (const ch of line) {
    if (Buffer.byteLength(current + ch) > (parts.length ? 74 : 75)) {
      parts.push(current);
      current = '';
    }
    current += ch;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

interface IcsText {
  summary: string;
  description: string;
  alarm: string;
  note: string;
}

/**
 * What the entry says, by the group's callback mode (the adviser calls, or the app asks the
 * customer to call at that time) and the customer's language.
 */
function text(mode: CallbackMode, language: Language, agent: string, org: string, ref: string, reason: string): IcsText {
  const en: Record<CallbackMode, IcsText> = {
    agent_calls: {
      summary: `Call from ${agent} (${ref})`,
      description: `${agent} from ${org} will call you. Case ${ref}: ${reason}.`,
      alarm: `${agent} calls you in 10 minutes`,
      note: 'Your note:',
    },
    customer_calls: {
      summary: `Call ${agent} (${ref})`,
      description: `Your call with ${agent} from ${org}: at this time the app asks you to call. Case ${ref}: ${reason}.`,
      alarm: `Call ${agent} in 10 minutes`,
      note: 'Your note:',
    },
  };
  const de: Record<CallbackMode, IcsText> = {
    agent_calls: {
      summary: `Anruf von ${agent} (${ref})`,
      description: `${agent} von ${org} ruft Sie an. Vorgang ${ref}: ${reason}.`,
      alarm: `${agent} ruft Sie in 10 Minuten an`,
      note: 'Ihre Notiz:',
    },
    customer_calls: {
      summary: `${agent} anrufen (${ref})`,
      description: `Ihr Anruf bei ${agent} von ${org}: Zu dieser Zeit bittet die App Sie, anzurufen. Vorgang ${ref}: ${reason}.`,
      alarm: `In 10 Minuten ${agent} anrufen`,
      note: 'Ihre Notiz:',
    },
  };
  return (language === 'de' ? de : en)[mode];
}

export function callbackIcs(
  r: CallRequest,
  args: { agentName: string; organisation: string; mode: CallbackMode; language: Language; durationMinutes: number; url: string; now: Date },
): string {
  if (!r.scheduledFor) throw new Error('request has no scheduled time');
  const end = new Date(r.scheduledFor.getTime() + args.durationMinutes * 60_000);
  const t = text(args.mode, args.language, args.agentName, args.organisation, r.reference, r.reason);
  const description = [t.description, r.scheduleNote ? `${t.note} ${r.scheduleNote}` : ''].filter(Boolean).join('\n');
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    `PRODID:-//${escapeText(args.organisation)}//Knock//EN`,
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VEVENT',
    `UID:callback-${r.id}@knock`,
    `DTSTAMP:${stamp(args.now)}`,
    `DTSTART:${stamp(r.scheduledFor)}`,
    `DTEND:${stamp(end)}`,
    `SUMMARY:${escapeText(t.summary)}`,
    `DESCRIPTION:${escapeText(description)}`,
    `URL:${args.url}`,
    'BEGIN:VALARM',
    'TRIGGER:-PT10M',
    'ACTION:DISPLAY',
    `DESCRIPTION:${escapeText(t.alarm)}`,
    'END:VALARM',
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return lines.map(fold).join('\r\n') + '\r\n';
}
