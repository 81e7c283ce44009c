/**
 * The header arithmetic behind attended transfer and session timers: reading Replaces out of a
 * Refer-To (RFC 3891 §6.1, %-escaped URI header) and the Session-Expires this server answers
 * with (RFC 4028 §9).
 */
import assert from 'node:assert/strict';
import { replacesOf } from '../../src/calls/attended-transfer.js';
import { parseSessionExpires, sessionIntervalTooSmall, sessionRefreshAnswerHeaders, sessionTimerAnswerHeaders } from '../../src/sip/session-timer.js';
import type { SipRequest } from '../../src/sip/sip-message.js';

function request(headers: Record<string, string>): SipRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { has: (h: string) => h.toLowerCase() in lower, get: (h: string) => lower[h.toLowerCase()] } as unknown as SipRequest;
}

const cfg = { expiresSeconds: 1800, minSeconds: 90 };

describe('attended transfer: Replaces in Refer-To', () => {
  it('reads Call-ID and both tags from an escaped Replaces header, with other URI headers around it', () => {
    const r = replacesOf('<sip:1002@pbx.example?Require=replaces&Replaces=abc-123%40host%3Bto-tag%3D111%3Bfrom-tag%3D222>');
    assert.deepEqual(r, { callId: 'abc-123@host', toTag: '111', fromTag: '222' });
  });

  it('is null for a blind transfer or a Replaces without both tags', () => {
    assert.equal(replacesOf('<sip:1002@pbx.example>'), null);
    assert.equal(replacesOf('<sip:1002@pbx.example?Replaces=abc%3Bto-tag%3D111>'), null);
  });
});

describe('session timers: what this server answers', () => {
  it('parses Session-Expires with and without a refresher', () => {
    assert.deepEqual(parseSessionExpires('120;refresher=uac'), { seconds: 120, refresher: 'uac' });
    assert.deepEqual(parseSessionExpires('1800'), { seconds: 1800, refresher: null });
    assert.equal(parseSessionExpires('soon'), null);
  });

  it('asks for 422 only below the minimum', () => {
    assert.equal(sessionIntervalTooSmall(request({ 'Session-Expires': '30' }), cfg), 90);
    assert.equal(sessionIntervalTooSmall(request({ 'Session-Expires': '90' }), cfg), null);
    assert.equal(sessionIntervalTooSmall(request({}), cfg), null);
  });

  it("keeps the caller's shorter interval and refresher, never exceeds ours, and lets a timer-less caller be refreshed by us", () => {
    assert.deepEqual(sessionTimerAnswerHeaders(request({ Supported: 'replaces, timer', 'Session-Expires': '120;refresher=uas' }), cfg), {
      Supported: 'timer',
      'Session-Expires': '120;refresher=uas',
      Require: 'timer',
    });
    assert.equal(sessionTimerAnswerHeaders(request({ Supported: 'timer', 'Session-Expires': '7200' }), cfg)['Session-Expires'], '1800;refresher=uac');
    assert.deepEqual(sessionTimerAnswerHeaders(request({}), cfg), { Supported: 'timer', 'Session-Expires': '1800;refresher=uas' });
    assert.equal(sessionTimerAnswerHeaders(request({ 'Session-Expires': '100', 'Min-SE': '600' }), cfg)['Session-Expires'], '600;refresher=uas');
  });

  it('refreshes itself when the caller does not support timers, even if it named itself refresher (RFC 4028 §9)', () => {
    assert.deepEqual(sessionTimerAnswerHeaders(request({ 'Session-Expires': '600;refresher=uac' }), cfg), {
      Supported: 'timer',
      'Session-Expires': '600;refresher=uas',
    });
    assert.equal(sessionTimerAnswerHeaders(request({ Supported: 'timer', 'Session-Expires': '600;refresher=uac' }), cfg)['Session-Expires'], '600;refresher=uac');
  });

  it('answers a session refresh the same way: refresher=uas unless the refresher supports timers', () => {
    assert.deepEqual(sessionRefreshAnswerHeaders(request({ 'Session-Expires': '600;refresher=uac' })), { 'Session-Expires': '600;refresher=uas' });
    assert.deepEqual(sessionRefreshAnswerHeaders(request({ Supported: 'timer', 'Session-Expires': '600' })), { 'Session-Expires': '600;refresher=uac', Require: 'timer' });
    assert.deepEqual(sessionRefreshAnswerHeaders(request({})), {});
  });
});
