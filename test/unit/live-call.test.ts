import assert from 'node:assert/strict';
import { hangUpOutcome, nextPhase, type LiveCallEvent, type LiveCallPhase } from '../../src/domain/live-call.js';

describe('live call phases (domain/live-call.ts)', () => {
  it('connects only while being set up, and ends once from either phase', () => {
    const moves: Array<[LiveCallPhase, LiveCallEvent, LiveCallPhase | null]> = [
      ['setting_up', 'connect', 'connected'],
      ['setting_up', 'end', 'ended'],
      ['connected', 'end', 'ended'],
      // A bridge that completes after the hang-up does not revive the call; a second hang-up does not end it again.
      ['ended', 'connect', null],
      ['ended', 'end', null],
      ['connected', 'connect', null],
    ];
    for (const [from, event, to] of moves) assert.equal(nextPhase(from, event), to, `${from} --${event}-->`);
  });

  it('records abandoned for a caller who leaves before an agent took the call, completed after', () => {
    assert.equal(hangUpOutcome('customer', false), 'abandoned');
    assert.equal(hangUpOutcome('customer', true), 'completed');
    assert.equal(hangUpOutcome('agent', true), 'completed');
  });

  it('records media_lost when FreeSWITCH went away, failed for a channel hung up during setup or an expired session timer', () => {
    assert.equal(hangUpOutcome('media', true, { mediaLost: true }), 'media_lost');
    assert.equal(hangUpOutcome('media', false, { mediaLost: true }), 'media_lost');
    assert.equal(hangUpOutcome('media', true), 'completed');
    assert.equal(hangUpOutcome('media', false), 'failed');
    assert.equal(hangUpOutcome('customer', true, { sessionExpired: true }), 'failed');
    assert.equal(hangUpOutcome('agent', true, { sessionExpired: true }), 'failed');
  });
});
