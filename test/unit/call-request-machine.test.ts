import assert from 'node:assert/strict';
import { allowedAnswers, applyEvent, type CallRequestSnapshot } from '../../src/domain/call-request.js';
import { AppError } from '../../src/domain/errors.js';

const t0 = new Date('2026-03-02T10:00:00Z');
const later = (s: number) => new Date(t0.getTime() + s * 1000);

function fresh(patch: Partial<CallRequestSnapshot> = {}): CallRequestSnapshot {
  return {
    state: 'notified',
    answerDeadline: later(300),
    agentId: 'a1',
    acceptedDeviceId: null,
    authMethod: null,
    authenticatedAt: null,
    scheduledFor: null,
    scheduleNote: null,
    snoozeUntil: null,
    holdUntil: null,
    attempts: 0,
    outcome: null,
    ...patch,
  };
}

function refusedWith(fn: () => unknown, code: string) {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === code);
}

describe('call request state machine', () => {
  it('runs the accept path from notified to ended', () => {
    let s = applyEvent(fresh(), { type: 'accept', deviceId: 'd1' }, later(10));
    assert.equal(s.state, 'accepted');
    s = applyEvent(s, { type: 'authenticate', deviceId: 'd1', method: 'biometric' }, later(20));
    assert.equal(s.state, 'authenticated');
    assert.equal(s.authMethod, 'biometric');
    assert.deepEqual(s.authenticatedAt, later(20));
    s = applyEvent(s, { type: 'call_setup' }, later(30));
    s = applyEvent(s, { type: 'call_answered' }, later(35));
    assert.equal(s.state, 'connected');
    s = applyEvent(s, { type: 'call_ended', outcome: 'completed' }, later(90));
    assert.equal(s.state, 'ended');
    assert.equal(s.outcome, 'completed');
  });

  it('refuses a late accept with a reason but still allows scheduling', () => {
    refusedWith(() => applyEvent(fresh(), { type: 'accept', deviceId: 'd1' }, later(301)), 'request_expired');
    const expired = applyEvent(fresh(), { type: 'expire' }, later(300));
    refusedWith(() => applyEvent(expired, { type: 'accept', deviceId: 'd1' }, later(301)), 'request_expired');
    const scheduled = applyEvent(expired, { type: 'schedule', at: later(7200), note: 'after 6' }, later(302));
    assert.equal(scheduled.state, 'scheduled');
    assert.equal(scheduled.scheduleNote, 'after 6');
  });

  it('lets only the device that accepted authenticate', () => {
    const accepted = applyEvent(fresh(), { type: 'accept', deviceId: 'd1' }, later(1));
    refusedWith(() => applyEvent(accepted, { type: 'accept', deviceId: 'd2' }, later(2)), 'conflict');
    refusedWith(() => applyEvent(accepted, { type: 'authenticate', deviceId: 'd2', method: 'pin' }, later(2)), 'forbidden');
  });

  it('refuses a call setup without authentication', () => {
    refusedWith(() => applyEvent(fresh(), { type: 'call_setup' }, later(1)), 'illegal_transition');
    const accepted = applyEvent(fresh(), { type: 'accept', deviceId: 'd1' }, later(1));
    refusedWith(() => applyEvent(accepted, { type: 'call_setup' }, later(2)), 'illegal_transition');
  });

  it('keeps a snoozed request answerable until the reminder, which opens a fresh answer window', () => {
    // Answer limit 300 s, reminder in 30 min: accept still works at 20 min, past the first deadline.
    const snoozed = applyEvent(fresh(), { type: 'snooze', until: later(1800) }, later(5));
    assert.equal(snoozed.state, 'snoozed');
    assert.deepEqual(snoozed.answerDeadline, later(1800));
    assert.equal(allowedAnswers(snoozed, later(1200)).accept, true);
    assert.equal(applyEvent(snoozed, { type: 'accept', deviceId: 'd1' }, later(1200)).state, 'accepted');
    // No expiry before the reminder.
    refusedWith(() => applyEvent(snoozed, { type: 'expire' }, later(300)), 'illegal_transition');
    const reminded = applyEvent(snoozed, { type: 'remind', answerDeadline: later(2100) }, later(1800));
    assert.equal(reminded.state, 'notified');
    assert.deepEqual(reminded.answerDeadline, later(2100));
    assert.equal(reminded.snoozeUntil, null);
    const expired = applyEvent(reminded, { type: 'expire' }, later(2100));
    refusedWith(() => applyEvent(expired, { type: 'expire' }, later(2101)), 'illegal_transition');
    refusedWith(() => applyEvent(expired, { type: 'remind', answerDeadline: later(2400) }, later(2101)), 'illegal_transition');
    // A snooze shorter than the answer limit keeps the original deadline.
    assert.deepEqual(applyEvent(fresh(), { type: 'snooze', until: later(60) }, later(5)).answerDeadline, later(300));
  });

  it('holds an accepted or verified request only until its hold runs out', () => {
    const accepted = applyEvent(fresh(), { type: 'accept', deviceId: 'd1', holdUntil: later(70) }, later(10));
    assert.deepEqual(accepted.holdUntil, later(70));
    refusedWith(() => applyEvent(accepted, { type: 'lapse' }, later(69)), 'illegal_transition');
    const verified = applyEvent(accepted, { type: 'authenticate', deviceId: 'd1', method: 'pin', holdUntil: later(155) }, later(20));
    assert.deepEqual(verified.holdUntil, later(155));
    // The call set up in time: the hold goes with the state.
    assert.equal(applyEvent(verified, { type: 'call_setup' }, later(30)).holdUntil, null);
    // No call in time, answer window still open: back to the customer, who must verify again.
    const back = applyEvent(verified, { type: 'lapse' }, later(155));
    assert.equal(back.state, 'notified');
    assert.equal(back.acceptedDeviceId, null);
    assert.equal(back.authMethod, null);
    assert.equal(back.authenticatedAt, null);
    assert.equal(back.holdUntil, null);
    assert.deepEqual(allowedAnswers(back, later(156)), { accept: true, schedule: true, snooze: true });
    // After the answer window: expired with the reason, scheduling still open.
    const late = fresh({ ...verified, answerDeadline: later(100) });
    const ended = applyEvent(late, { type: 'lapse' }, later(155));
    assert.equal(ended.state, 'expired');
    assert.equal(ended.outcome, 'no_call');
    assert.equal(allowedAnswers(ended, later(156)).schedule, true);
    // Accepted but never verified: the outcome must not read as verified.
    const unverified = applyEvent(fresh({ ...accepted, answerDeadline: later(50) }), { type: 'lapse' }, later(70));
    assert.equal(unverified.state, 'expired');
    assert.equal(unverified.outcome, 'not_verified');
    // A callback the customer was prompted to place goes back to the prompt.
    const callback = fresh({ ...verified, state: 'authenticated', scheduledFor: later(-60), answerDeadline: later(-3600) });
    assert.equal(applyEvent(callback, { type: 'lapse' }, later(155)).state, 'prompted');
    // A lapse of anything else is refused (the job came late).
    refusedWith(() => applyEvent(back, { type: 'lapse' }, later(200)), 'illegal_transition');
  });

  it('lets the verified device try again at once with a fresh authentication', () => {
    const verified = applyEvent(applyEvent(fresh(), { type: 'accept', deviceId: 'd1' }, later(1)), { type: 'authenticate', deviceId: 'd1', method: 'biometric' }, later(2));
    assert.equal(allowedAnswers(verified, later(3), 'd1').accept, true, 'the verified device is offered accept again');
    assert.equal(allowedAnswers(verified, later(3), 'd2').accept, false, 'another device is not');
    const again = applyEvent(verified, { type: 'accept', deviceId: 'd1', holdUntil: later(62) }, later(3));
    assert.equal(again.state, 'accepted');
    assert.equal(again.authenticatedAt, null);
    refusedWith(() => applyEvent(verified, { type: 'accept', deviceId: 'd2' }, later(3)), 'conflict');
  });

  it('refuses scheduling in the past', () => {
    refusedWith(() => applyEvent(fresh(), { type: 'schedule', at: later(-1), note: null }, later(0)), 'in_the_past');
  });

  it('runs an agent-dialled callback and its retries', () => {
    let s = fresh({ state: 'scheduled', scheduledFor: later(60) });
    s = applyEvent(s, { type: 'callback_due' }, later(60));
    s = applyEvent(s, { type: 'dial_agent', agentId: 'a2' }, later(61));
    assert.equal(s.state, 'agent_dialled');
    assert.equal(s.agentId, 'a2');
    assert.equal(s.attempts, 1);
    const retried = applyEvent(s, { type: 'callback_failed', outcome: 'no_answer', retryAt: later(660) }, later(90));
    assert.equal(retried.state, 'scheduled');
    assert.deepEqual(retried.scheduledFor, later(660));
    const gaveUp = applyEvent(s, { type: 'callback_failed', outcome: 'no_answer', retryAt: null }, later(90));
    assert.equal(gaveUp.state, 'expired');
    assert.equal(gaveUp.outcome, 'gave_up');
    assert.equal(allowedAnswers(gaveUp, later(91)).schedule, true);
    assert.equal(allowedAnswers(gaveUp, later(91)).accept, false);
  });

  it('cancels open requests but not finished ones', () => {
    assert.equal(applyEvent(fresh(), { type: 'cancel', by: 'agent:a1' }, later(1)).state, 'cancelled');
    const ended = fresh({ state: 'ended' });
    refusedWith(() => applyEvent(ended, { type: 'cancel', by: 'agent:a1' }, later(1)), 'illegal_transition');
  });

  it('reports the answers the customer may give', () => {
    assert.deepEqual(allowedAnswers(fresh(), later(1)), { accept: true, schedule: true, snooze: true });
    assert.deepEqual(allowedAnswers(fresh(), later(400)), { accept: false, schedule: true, snooze: false });
    assert.deepEqual(allowedAnswers(fresh({ state: 'expired' }), later(1)), { accept: false, schedule: true, snooze: false });
  });
});
