/** An iCalendar (RFC 5545) entry for a scheduled call, for the customer's calendar. */
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

export function callbackIcs(r: CallRequest, args: { agentName: string; organisation: string; durationMinutes: number; url: string; now: Date }): string {
  if (!r.scheduledFor) throw new Error('request has no scheduled time');
  const end = new Date(r.scheduledFor.getTime() + args.durationMinutes * 60_000);
  const description = [`${args.agentName} will call you about ${r.reference}: ${r.reason}.`, r.scheduleNote ? `Your note: ${r.scheduleNote}` : '']
    .filter(Boolean)
    .join('\n');
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
    `SUMMARY:${escapeText(`Call with ${args.agentName} (${r.reference})`)}`,
    `DESCRIPTION:${escapeText(description)}`,
    `URL:${args.url}`,
    'BEGIN:VALARM',
    'TRIGGER:-PT10M',
    'ACTION:DISPLAY',
    `DESCRIPTION:${escapeText(`Call with ${args.agentName} in 10 minutes`)}`,
    'END:VALARM',
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return lines.map(fold).join('\r\n') + '\r\n';
}
