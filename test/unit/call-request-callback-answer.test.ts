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
    attempts: 1,
    outcome: null,
    ...patch,
  };
}

describe('call request state machine: a dialled callback answered in the app', () => {
  it('is accepted, authenticated and connected while the agent is on the line', () => {
    let s = applyEvent(dialled(), { type: 'accept', deviceId: 'd1' }, later(1));
    assert.equal(s.state, 'accepted');
    s = applyEvent(s, { type: 'authenticate', deviceId: 'd1', method: 'pin' }, later(5));
    assert.equal(s.state, 'authenticated');
    assert.equal(s.authMethod, 'pin');
    s = applyEvent(s, { type: 'call_setup' }, later(6));
    s = applyEvent(s, { type: 'call_answered' }, later(6));
    assert.equal(s.state, 'connected');
    assert.equal(s.attempts, 1);
  });

  it('goes back to the retry policy when the answered callback does not connect', () => {
    for (const state of ['accepted', 'authenticated'] as const) {
      const s = applyEvent(dialled({ state, acceptedDeviceId: 'd1' }), { type: 'callback_failed', outcome: 'failed', retryAt: later(600) }, later(10));
      assert.equal(s.state, 'scheduled');
      assert.deepEqual(s.scheduledFor, later(600));
    }
  });

  it('does not treat a knock the customer accepted as a failed callback', () => {
    assert.throws(
      () => applyEvent(dialled({ state: 'authenticated', attempts: 0 }), { type: 'callback_failed', outcome: 'failed', retryAt: null }, later(10)),
      (e: unknown) => e instanceof AppError && e.code === 'illegal_transition',
    );
  });
});
