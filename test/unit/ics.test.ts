/** The calendar entry for a scheduled call: RFC 5545 text escaping (§3.3.11) and line folding (§3.1). */
import assert from 'node:assert/strict';
import { callbackIcs } from '../../src/api/ics.js';
import type { CallRequest } from '../../src/domain/model.js';

function entry(note: string, reason = 'Card payment check'): string {
  const request = {
    id: '6f1f8a52-5d8b-4c8e-9d43-0a0e4b1f2c3d',
    reference: 'CASE-1',
    reason,
    scheduledFor: new Date('2026-03-02T10:00:00Z'),
    scheduleNote: note,
  } as CallRequest;
  return callbackIcs(request, { agentName: 'Anna Agent', organisation: 'Knock', durationMinutes: 15, url: 'http://localhost:8080/app/', now: new Date('2026-03-01T09:00:00Z') });
}

/** RFC 5545 §3.1: unfolding removes each CRLF followed by one space or tab. */
function unfold(ics: string): string[] {
  return ics.replace(/\r\n[ \t]/g, '').split('\r\n');
}

describe('calendar entry (RFC 5545)', () => {
  it('turns every line break in a note (CR, LF, CRLF) into \\n, so no bare CR reaches the file', () => {
    const ics = entry('first\rsecond\nthird\r\nfourth');
    assert.doesNotMatch(ics.replace(/\r\n/g, ''), /[\r\n]/, 'a CR or LF outside a CRLF line end');
    const description = unfold(ics).find((l) => l.startsWith('DESCRIPTION:Anna'))!;
    assert.ok(description.endsWith('Your note: first\\nsecond\\nthird\\nfourth'), description);
  });

  it('escapes backslash, semicolon and comma, and leaves the colon', () => {
    const description = unfold(entry('a\\b;c,d:e')).find((l) => l.startsWith('DESCRIPTION:Anna'))!;
    assert.ok(description.endsWith('Your note: a\\\\b\\;c\\,d:e'), description);
  });

  it('folds lines at 75 octets without splitting a character', () => {
    const ics = entry('ü'.repeat(120) + ' 😀'.repeat(30));
    for (const line of ics.split('\r\n')) assert.ok(Buffer.byteLength(line) <= 75, `${Buffer.byteLength(line)} octets: ${line}`);
    assert.ok(!ics.includes('\uFFFD'));
    const description = unfold(ics).find((l) => l.startsWith('DESCRIPTION:Anna'))!;
    assert.ok(description.endsWith('ü'.repeat(120) + ' 😀'.repeat(30)));
  });

  it('keeps control characters out of the file', () => {
    const ics = entry('tab\there, bell\u0007, escape\u001b.', 'Reason\u000bwith vertical tab');
    assert.doesNotMatch(ics.replace(/\r\n/g, ''), /[\u0000-\u0008\u000a-\u001f\u007f]/);
  });
});
