/**
 * The `call.transfer` job's retries on a real PostgreSQL: a failing handler is run at most
 * 1 + maxRetries times, and is told which run is the last (so a console transfer can report its
 * failure instead of vanishing into the jobs table).
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { createScheduler, type Scheduler, type TransferAttempt } from '../../src/jobs/scheduler.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitFor } from '../support/wait-for.js';

describe('transfer job attempts (PostgreSQL)', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let scheduler: Scheduler | null = null;

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await scheduler?.stop();
    await db.drop();
  });

  it('runs a failing transfer 1 + maxRetries times with backoff, telling the handler which run is the last', async () => {
    const config = loadConfig({ DATABASE_URL: db.url, KNOCK_JOBS__PROCESS_EVERY_MS: '100' });
    const attempts: Array<TransferAttempt & { data: unknown }> = [];
    scheduler = createScheduler({
      url: db.url,
      config: config.jobs,
      logger: pino({ level: 'silent' }),
      instanceName: 'attempts',
      retry: { maxRetries: 2, initialDelayMs: 50 },
      handlers: {
        expireRequest: async () => {},
        remindCustomer: async () => {},
        callbackDue: async () => {},
        transfer: async (data, attempt) => {
          attempts.push({ ...attempt, data });
          throw new Error('media server unreachable');
        },
      },
    });
    await scheduler.start();
    await scheduler.scheduleTransfer({ transferId: 't-1' });
    await waitFor('three runs', () => attempts.length === 3);
    assert.deepEqual(
      attempts.map((a) => [a.number, a.last]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );
    assert.deepEqual(attempts[0]!.data, { transferId: 't-1' });
    // The backoff gave up: the row stays for inspection with nothing left to run.
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const row = await waitFor('the job to be given up', async () => {
        const { rows } = await pool.query(`SELECT fail_count, next_run_at, fail_reason FROM agenda_jobs WHERE name = 'call.transfer'`);
        return rows[0]?.fail_count === 3 && rows[0].next_run_at === null ? rows[0] : null;
      });
      assert.match(row.fail_reason, /media server unreachable/);
    } finally {
      await pool.end();
    }
    assert.equal(attempts.length, 3);
  });
});
