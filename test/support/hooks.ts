/** Root hooks for every suite. */
import { takeResponseMismatches } from '../../src/api/response-check.js';
import { stopEmbeddedForTests } from './db.js';

// Services started in child processes check their answers against the OpenAPI document too.
process.env.KNOCK_SERVER__RESPONSE_CHECK ??= 'fail';

/** Answers that did not match the OpenAPI document, by the test that caused them. */
const mismatched: string[] = [];

export const mochaHooks = {
  /**
   * An answer that does not match the OpenAPI document fails the run, even from a test not looking
   * at the status. Collected here and thrown once at the end: a root afterEach that throws would
   * stop every suite after it.
   */
  afterEach(this: Mocha.Context) {
    const mismatches = takeResponseMismatches();
    // A failed test already shows the 500 it got; a passing one would hide the mismatch.
    if (mismatches.length && this.currentTest?.state === 'passed') mismatched.push(`${this.currentTest.fullTitle()}:\n  ${mismatches.join('\n  ')}`);
  },
  async afterAll() {
    await stopEmbeddedForTests();
    if (mismatched.length) throw new Error(`API answers that do not match the OpenAPI document:\n${mismatched.join('\n')}`);
  },
};
