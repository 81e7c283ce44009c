/**
 * The `call.transfer` job's retries on a real PostgreSQL: a failing handler is run at most
 * 1 + maxRetries times, and is told which run is the last (so a console transfer can report its
 * failure instead of vanishing into the jobs table).
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { createScheduler, LEAVE_FOR_ANOTHER_INSTANCE, type JobHandlers, type Scheduler, type TransferAttempt } from '../../src/jobs/scheduler.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitFor } from '../support/wait-for.js';

describe('transfer job attempts (PostgreSQL)', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let pool: pg.Pool;
  let scheduler: Scheduler | null = null;

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  after(async () => {
    await scheduler?.stop();
    await pool?.end();
    await db.drop();
  });

  /** A scheduler whose only working handler is `transfer` (the other jobs never run here). */
  function transferScheduler(instanceName: string, maxRetries: number, transfer: JobHandlers['transfer']): Scheduler {
    const config = loadConfig({ DATABASE_URL: db.url, KNOCK_JOBS__PROCESS_EVERY_MS: '100' });
    return createScheduler({
      url: db.url,
      config: config.jobs,
      logger: pino({ level: 'silent' }),
      instanceName,
      retry: { maxRetries, initialDelayMs: 50 },
      handlers: { expireRequest: async () => {}, remindCustomer: async () => {}, lapseHold: async () => {}, callbackDue: async () => {}, transfer },
    });
  }

  it('runs a failing transfer 1 + maxRetries times with backoff, telling the handler which run is the last', async () => {
    const attempts: Array<TransferAttempt & { data: unknown }> = [];
    scheduler = transferScheduler('attempts', 2, async (data, attempt) => {
      attempts.push({ ...attempt, data });
      throw new Error('media server unreachable');
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
    const row = await waitFor('the job to be given up', async () => {
      const { rows } = await pool.query(`SELECT fail_count, next_run_at, fail_reason FROM agenda_jobs WHERE name = 'call.transfer'`);
      return rows[0]?.fail_count === 3 && rows[0].next_run_at === null ? rows[0] : null;
    });
    assert.match(row.fail_reason, /media server unreachable/);
    assert.equal(attempts.length, 3);
  });

  it('runs a transfer left for another instance again soon, counting no failure, and removes it once done', async () => {
    await scheduler?.stop();
    const runs: TransferAttempt[] = [];
    scheduler = transferScheduler('leaves', 2, async (data, attempt) => {
      if (data.transferId !== 't-2') return;
      runs.push(attempt);
      return runs.length < 3 ? LEAVE_FOR_ANOTHER_INSTANCE : undefined;
    });
    await scheduler.start();
    await scheduler.scheduleTransfer({ transferId: 't-2' });
    await waitFor('three runs', () => runs.length === 3);
    assert.deepEqual(runs, [
      { number: 1, last: false },
      { number: 1, last: false },
      { number: 1, last: false },
    ]);
    await waitFor('the done job to be removed', async () => {
      const { rows } = await pool.query(`SELECT 1 FROM agenda_jobs WHERE data->>'transferId' = 't-2'`);
      return rows.length === 0;
    });
  });

  it('with two instances on one database, the one holding the call carries the transfer out, once', async () => {
    await scheduler?.stop();
    const ran: string[] = [];
    const instance = (name: string, holdsTheCall: boolean) =>
      transferScheduler(name, 0, async (data) => {
        if (data.transferId !== 't-3') return;
        ran.push(name);
        return holdsTheCall ? undefined : LEAVE_FOR_ANOTHER_INSTANCE;
      });
    // The instance without the call starts first, so it is there to take the job too.
    const other = instance('without-the-call', false);
    scheduler = instance('with-the-call', true);
    try {
      await other.start();
      await scheduler.start();
      await other.scheduleTransfer({ transferId: 't-3' });
      await waitFor('the holding instance to run it', () => ran.includes('with-the-call'));
      await waitFor('the done job to be removed', async () => (await pool.query(`SELECT 1 FROM agenda_jobs WHERE data->>'transferId' = 't-3'`)).rows.length === 0);
      assert.equal(ran.filter((n) => n === 'with-the-call').length, 1, 'carried out once');
    } finally {
      await other.stop();
    }
  });
});
