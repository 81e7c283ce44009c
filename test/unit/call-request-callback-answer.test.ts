/** A dialled callback answered in the app: accept + authenticate while the agent waits on the line. */
import assert from 'node:assert/strict';
import { applyEvent, type CallRequestSnapshot } from '../../src/domain/call-request.js';
import { AppError } from '../../src/domain/errors.js';

const t0 = new Date('2026-03-02T10:00:00Z');
const later = (s: number) => new Date(t0.getTime() + s * 1000);

function dialled(patch: Partial<CallRequestSnapshot> = {}): CallRequestSnapshot {
  return {
    state: 'agent_dialled',
    // The knock's answer deadline passed long ago: it must not stop the callback being answered.
    answerDeadline: later(-86_400),
    agentId: 'a1',
    acceptedDeviceId: null,
    authMethod: null,
    authenticatedAt: null,
    scheduledFor: later(-5),
    scheduleNote: null,
    snoozeUntil: null,
    holdUntil: null,
    attempts: 1,
    outcome: null,
    ...patch,
  };
}

describe('call request state machine: a dialled callback answered in the app', () => {
  it('records the answering device and method, stays agent_dialled, and connects only as that answer', () => {
    let s = applyEvent(dialled(), { type: 'accept', deviceId: 'd1' }, later(1));
    assert.equal(s.state, 'agent_dialled');
    assert.equal(s.acceptedDeviceId, 'd1');
    s = applyEvent(s, { type: 'authenticate', deviceId: 'd1', method: 'pin' }, later(5));
    assert.equal(s.state, 'agent_dialled');
    assert.equal(s.authMethod, 'pin');
    s = applyEvent(s, { type: 'call_setup', use: 'callback-answer' }, later(6));
    s = applyEvent(s, { type: 'call_answered' }, later(6));
    assert.equal(s.state, 'connected');
    assert.equal(s.attempts, 1);
  });

  it('refuses an ordinary call while the callback is being dialled, verified or not', () => {
    const verified = applyEvent(applyEvent(dialled(), { type: 'accept', deviceId: 'd1' }, later(1)), { type: 'authenticate', deviceId: 'd1', method: 'pin' }, later(2));
    for (const s of [dialled(), verified]) {
      assert.throws(
        () => applyEvent(s, { type: 'call_setup' }, later(3)),
        (e: unknown) => e instanceof AppError && e.code === 'illegal_transition' && /only the answer to that call/.test(e.message),
      );
    }
    // The answer itself needs the customer verified first.
    assert.throws(() => applyEvent(dialled({ acceptedDeviceId: 'd1' }), { type: 'call_setup', use: 'callback-answer' }, later(3)), { code: 'illegal_transition' });
  });

  it('refuses a callback answer where no callback rings, and a second device answering', () => {
    const knock = dialled({ state: 'authenticated', attempts: 0, acceptedDeviceId: 'd1', authMethod: 'pin', authenticatedAt: later(1) });
    assert.throws(() => applyEvent(knock, { type: 'call_setup', use: 'callback-answer' }, later(2)), { code: 'illegal_transition' });
    assert.equal(applyEvent(knock, { type: 'call_setup', use: 'call' }, later(2)).state, 'connecting');
    const answering = applyEvent(dialled(), { type: 'accept', deviceId: 'd1' }, later(1));
    assert.throws(() => applyEvent(answering, { type: 'accept', deviceId: 'd2' }, later(2)), { code: 'conflict' });
    assert.throws(() => applyEvent(answering, { type: 'authenticate', deviceId: 'd2', method: 'pin' }, later(2)), { code: 'forbidden' });
  });

  it('forgets an earlier attempt\'s answer when the callback is dialled again', () => {
    const failed = dialled({ state: 'due', acceptedDeviceId: 'd1', authMethod: 'pin', authenticatedAt: later(-600) });
    const s = applyEvent(failed, { type: 'dial_agent', agentId: 'a2' }, later(0));
    assert.equal(s.state, 'agent_dialled');
    assert.equal(s.attempts, 2);
    assert.equal(s.authenticatedAt, null);
    assert.throws(() => applyEvent(s, { type: 'call_setup', use: 'callback-answer' }, later(1)), { code: 'illegal_transition' });
  });

  it('goes back to the retry policy when the answered callback does not connect', () => {
    const answered = dialled({ acceptedDeviceId: 'd1', authMethod: 'pin', authenticatedAt: later(1) });
    const s = applyEvent(answered, { type: 'callback_failed', outcome: 'failed', retryAt: later(600) }, later(10));
    assert.equal(s.state, 'scheduled');
    assert.deepEqual(s.scheduledFor, later(600));
  });

  it('does not treat a knock the customer accepted as a failed callback', () => {
    for (const attempts of [0, 1]) {
      assert.throws(
        () => applyEvent(dialled({ state: 'authenticated', attempts }), { type: 'callback_failed', outcome: 'failed', retryAt: null }, later(10)),
        (e: unknown) => e instanceof AppError && e.code === 'illegal_transition',
      );
    }
  });
});
