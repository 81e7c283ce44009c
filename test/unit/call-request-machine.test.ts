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

  it('snoozes and reminds, and a second expiry is refused', () => {
    const snoozed = applyEvent(fresh(), { type: 'snooze', until: later(1800) }, later(5));
    assert.equal(snoozed.state, 'snoozed');
    assert.equal(applyEvent(snoozed, { type: 'remind' }, later(1800)).state, 'notified');
    const expired = applyEvent(snoozed, { type: 'expire' }, later(300));
    refusedWith(() => applyEvent(expired, { type: 'expire' }, later(301)), 'illegal_transition');
    refusedWith(() => applyEvent(expired, { type: 'remind' }, later(1800)), 'illegal_transition');
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
