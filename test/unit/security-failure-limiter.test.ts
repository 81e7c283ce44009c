import assert from 'node:assert/strict';
import { createFailureLimiter } from '../../src/security/failure-limiter.js';

describe('security/failure limiter', () => {
  it('blocks a key at the limit, per key, until its failures are a minute old', () => {
    let now = Date.parse('2026-03-02T10:00:00Z');
    const limiter = createFailureLimiter(3, () => new Date(now));
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.blocked('anna'), false);
      limiter.recordFailure('anna');
    }
    assert.equal(limiter.blocked('anna'), true);
    assert.equal(limiter.blocked('ben'), false);
    now += 60_001;
    assert.equal(limiter.blocked('anna'), false);
  });

  it('forgets a key after a success', () => {
    const limiter = createFailureLimiter(2, () => new Date());
    limiter.recordFailure('anna');
    limiter.recordFailure('anna');
    assert.equal(limiter.blocked('anna'), true);
    limiter.reset('anna');
    assert.equal(limiter.blocked('anna'), false);
  });
});
