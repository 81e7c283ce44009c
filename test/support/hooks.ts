/** Root hooks for every suite. */
import { takeResponseMismatches } from '../../src/api/response-check.js';
import { stopEmbeddedForTests } from './db.js';

// Services started in child processes check their answers against the OpenAPI document too.
process.env.KNOCK_SERVER__RESPONSE_CHECK ??= 'fail';

export const mochaHooks = {
  /** An answer that does not match the OpenAPI document fails the test that caused it, even one not looking at the status. */
  afterEach(this: Mocha.Context) {
    const mismatches = takeResponseMismatches();
    // A failed test already shows the 500 it got; a passing one would hide the mismatch.
    if (mismatches.length && this.currentTest?.state === 'passed') throw new Error(`API answers that do not match the OpenAPI document:\n${mismatches.join('\n')}`);
  },
  async afterAll() {
    await stopEmbeddedForTests();
  },
};
