/**
 * A call outlives a database outage (README "When a component dies"): the SIP and media legs do
 * not need PostgreSQL, so a step of a live call that cannot be written now is written again once
 * the database is back, instead of dropping the call (or the queue) on the first error. Only
 * `AppError('unavailable')` is retried (the store's word for "not reachable right now"); any
 * other error is the caller's.
 */
import type { Logger } from 'pino';
import { isAppError } from '../domain/errors.js';

/** First pause after a failed write, doubled each time up to the longest. */
export const OUTAGE_RETRY_FIRST_MS = 250;
export const OUTAGE_RETRY_MAX_MS = 5000;

export function isDatabaseOutage(e: unknown): boolean {
  return isAppError(e) && e.code === 'unavailable';
}

export interface OutageRetryOptions {
  log: Logger;
  /** What is being written, for the log line. */
  what: string;
  /** Checked before each retry: false gives up (the call ended, the time ran out). */
  keepTrying(): boolean;
  /** Waits between tries (an abortable sleep, so a hang-up does not wait out the pause). */
  sleep?(ms: number): Promise<void>;
}

/**
 * Runs `work` until it succeeds, retrying through `unavailable` with a bounded backoff while
 * `keepTrying()` holds. Throws the last error when it gives up or on any other error.
 */
export async function retryThroughOutage<T>(work: () => Promise<T>, opts: OutageRetryOptions): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let wait = OUTAGE_RETRY_FIRST_MS, tries = 1; ; wait = Math.min(wait * 2, OUTAGE_RETRY_MAX_MS), tries++) {
    try {
      return await work();
    } catch (e) {
      const retry = isDatabaseOutage(e) && opts.keepTrying();
      // One warning when the outage starts; the retries after it are debug lines.
      opts.log[retry ? (tries === 1 ? 'warn' : 'debug') : 'error'](
        { err: e instanceof Error ? e.message : String(e), tries, retryInMs: retry ? wait : null },
        `could not ${opts.what}${retry ? '; retrying while the database is unavailable' : ''}`,
      );
      if (!retry) throw e;
      await sleep(wait);
    }
  }
}
