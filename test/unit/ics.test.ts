/** The calendar entry for a scheduled call: RFC 5545 text escaping (§3.3.11) and line folding (§3.1). */
import assert from 'node:assert/strict';
import { callbackIcs } from '../../src/api/ics.js';
import type { CallbackMode } from '../../src/domain/call-request.js';
import type { Language } from '../../src/domain/language.js';
import type { CallRequest } from '../../src/domain/model.js';

function entry(note: string, reason = 'Card payment check', mode: CallbackMode = 'agent_calls', language: Language = 'en'): string {
  const request = {
    id: '6f1f8a52-5d8b-4c8e-9d43-0a0e4b1f2c3d',
    reference: 'CASE-1',
    reason,
    scheduledFor: new Date('2026-03-02T10:00:00Z'),
    scheduleNote: note,
  } as CallRequest;
  return callbackIcs(request, { agentName: 'Anna Agent', organisation: 'Northwind Bank', mode, language, durationMinutes: 15, url: 'http://localhost:8080/app/', now: new Date('2026-03-01T09:00:00Z') });
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

  it('says the adviser calls only when the adviser calls; otherwise that the app asks the customer to call', () => {
    const lines = (mode: CallbackMode, language: Language = 'en') => unfold(entry('', 'Card payment check', mode, language));
    const agentCalls = lines('agent_calls');
    assert.ok(agentCalls.includes('SUMMARY:Call from Anna Agent (CASE-1)'));
    assert.ok(agentCalls.includes('DESCRIPTION:Anna Agent from Northwind Bank will call you. Case CASE-1: Card payment check.'));
    const customerCalls = lines('customer_calls');
    assert.ok(customerCalls.includes('SUMMARY:Call Anna Agent (CASE-1)'));
    assert.ok(customerCalls.includes('DESCRIPTION:Your call with Anna Agent from Northwind Bank: at this time the app asks you to call. Case CASE-1: Card payment check.'));
    assert.ok(!customerCalls.join('\n').includes('will call you'), 'no "will call you" when the customer calls');
    assert.ok(customerCalls.includes('DESCRIPTION:Call Anna Agent in 10 minutes'));
  });

  it("speaks the customer's language", () => {
    const de = unfold(entry('Bitte nach 17 Uhr', 'Kartenzahlung', 'agent_calls', 'de'));
    assert.ok(de.includes('SUMMARY:Anruf von Anna Agent (CASE-1)'));
    assert.ok(de.includes('DESCRIPTION:Anna Agent von Northwind Bank ruft Sie an. Vorgang CASE-1: Kartenzahlung.\\nIhre Notiz: Bitte nach 17 Uhr'), de.join('\n'));
    assert.ok(unfold(entry('', 'Kartenzahlung', 'customer_calls', 'de')).includes('SUMMARY:Anna Agent anrufen (CASE-1)'));
  });
});
