/**
 * The scheduler on a real PostgreSQL: jobs fire once across two instances and across a restart,
 * re-scheduling replaces, cancelling removes, failures are retried and logged.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { createScheduler, type JobHandlers, type Scheduler, type SchedulerOptions } from '../../src/jobs/scheduler.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

interface Fired {
  kind: string;
  id: string;
  instance: string;
}

/** A pino logger whose records the test can read back. */
function capturingLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), records };
}

describe('jobs scheduler (PostgreSQL)', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let running: Scheduler[] = [];
  let fired: Fired[] = [];

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });
  beforeEach(() => {
    fired = [];
  });
  afterEach(async () => {
    await Promise.all(running.map((s) => s.stop()));
    running = [];
  });

  function recordingHandlers(instance: string): JobHandlers {
    const record = (kind: string) => async (id: string) => {
      fired.push({ kind, id, instance });
    };
    return {
      expireRequest: record('expire'),
      remindCustomer: record('remind'),
      lapseHold: record('lapse'),
      callbackDue: record('callback'),
      async transfer(data) {
        fired.push({ kind: 'transfer', id: String(data.ref), instance });
      },
    };
  }

  function makeScheduler(instance: string, overrides: Partial<SchedulerOptions> = {}): Scheduler {
    const s = createScheduler({
      url: db.url,
      config: { processEveryMs: 300, lockLifetimeMs: 60_000, housekeepingCron: '*/5 * * * *', staleSessionHours: 12 },
      logger: pino({ level: 'silent' }),
      handlers: recordingHandlers(instance),
      instanceName: instance,
      retry: { maxRetries: 3, initialDelayMs: 200 },
      ...overrides,
    });
    running.push(s);
    return s;
  }

  const countFor = (id: string) => fired.filter((f) => f.id === id).length;

  it('runs each of 40 jobs exactly once with two instances on one database', async () => {
    const a = makeScheduler('A');
    const b = makeScheduler('B');
    await Promise.all([a.start(), b.start()]);
    const now = Date.now();
    const ids = Array.from({ length: 40 }, (_, i) => `two-instances-${i}`);
    await Promise.all(
      ids.map((id, i) => {
        const at = new Date(now + 1000 + i * 50); // due 1–3 s ahead
        const via = i % 2 === 0 ? a : b;
        return i % 3 === 0 ? via.scheduleExpiry(id, at) : i % 3 === 1 ? via.scheduleReminder(id, at) : via.scheduleCallback(id, at);
      }),
    );

    await waitFor('all 40 jobs to fire', () => new Set(fired.map((f) => f.id)).size === 40, 15_000);
    await sleep(1500); // room for a second run of any job to show up

    for (const id of ids) assert.equal(countFor(id), 1, `job ${id} fired ${countFor(id)} times`);
    assert.equal(fired.length, 40);
    for (const id of ids.slice(0, 5)) assert.deepEqual(await a.pending(id), []);
    // Which instance ran what is up to the race for locks; both usually take part.
    const byA = fired.filter((f) => f.instance === 'A').length;
    console.log(`      (instance A ran ${byA} jobs, instance B ran ${40 - byA})`);
  });

  it('fires a job scheduled before a restart once, after it', async () => {
    const a = makeScheduler('A');
    await a.start();
    await a.scheduleCallback('restart-1', new Date(Date.now() + 2000));
    await a.stop();

    await sleep(2500); // the job comes due while no instance runs
    assert.equal(countFor('restart-1'), 0);

    const b = makeScheduler('B');
    await b.start();
    await waitFor('the job to fire after the restart', () => countFor('restart-1') === 1);
    await sleep(1000);
    assert.deepEqual(fired, [{ kind: 'callback', id: 'restart-1', instance: 'B' }]);
  });

  it('hands back a job it had locked but not started when it stops', async () => {
    const seen = new pg.Client({ connectionString: db.url });
    await seen.connect();
    try {
      // A long poll interval: on start A locks everything due within the next second and holds it
      // on a local timer until it is due.
      const a = makeScheduler('A', { config: { processEveryMs: 1000, lockLifetimeMs: 60_000, housekeepingCron: '*/5 * * * *', staleSessionHours: 12 } });
      await a.scheduleExpiry('handover-1', new Date(Date.now() + 900));
      await a.start();
      const lockedAt = async () =>
        (await seen.query(`SELECT locked_at FROM agenda_jobs WHERE data->>'requestId' = 'handover-1'`)).rows[0]?.locked_at ?? null;
      await waitFor('instance A to lock the job', async () => (await lockedAt()) !== null, 5000);
      await a.stop();
      assert.equal(await lockedAt(), null, 'the lock is released on stop');

      // Without the release B would wait for the 60 s lock lifetime to pass.
      const b = makeScheduler('B');
      await b.start();
      await waitFor('instance B to run the handed-back job', () => countFor('handover-1') === 1);
      assert.deepEqual(fired, [{ kind: 'expire', id: 'handover-1', instance: 'B' }]);
    } finally {
      await seen.end();
    }
  });

  it('replaces an earlier job of the same kind when re-scheduled, and cancels', async () => {
    const a = makeScheduler('A');
    const b = makeScheduler('B');
    const t1 = new Date(Date.now() + 60_000);
    const t2 = new Date(Date.now() + 120_000);
    const t3 = new Date(Date.now() + 30_000);
    await a.scheduleExpiry('replace-1', t1);
    await a.scheduleExpiry('replace-1', t2);
    assert.deepEqual(await a.pending('replace-1'), [{ name: 'request.expire', at: t2, failedAttempts: 0 }]);

    await b.scheduleReminder('replace-1', t3); // another kind lives beside it
    assert.deepEqual(
      (await b.pending('replace-1')).map((p) => [p.name, p.at.getTime()]),
      [
        ['request.remind', t3.getTime()],
        ['request.expire', t2.getTime()],
      ],
    );

    // Concurrent re-scheduling from two instances still leaves exactly one job.
    const times = Array.from({ length: 20 }, (_, i) => new Date(Date.now() + 300_000 + i * 1000));
    await Promise.all(times.map((at, i) => (i % 2 ? a : b).scheduleCallback('replace-2', at)));
    const pending2 = await a.pending('replace-2');
    assert.equal(pending2.length, 1);
    assert.ok(times.some((t) => t.getTime() === pending2[0]!.at.getTime()));

    assert.equal(await a.cancelForRequest('replace-1'), 2);
    assert.deepEqual(await a.pending('replace-1'), []);
    assert.equal(await a.cancelForRequest('replace-1'), 0);
  });

  it('fires a replaced job once, at its new time, and never fires a cancelled one', async () => {
    const a = makeScheduler('A');
    await a.start();
    await a.scheduleExpiry('moved-1', new Date(Date.now() + 800));
    await a.scheduleExpiry('moved-1', new Date(Date.now() + 1500));
    await a.scheduleReminder('cancelled-1', new Date(Date.now() + 800));
    await a.cancelForRequest('cancelled-1');

    await waitFor('the replaced job to fire', () => countFor('moved-1') === 1);
    await sleep(1500);
    assert.equal(countFor('moved-1'), 1);
    assert.equal(countFor('cancelled-1'), 0);
  });

  it('keeps a job its own handler re-schedules while running', async () => {
    let a: Scheduler | null = null;
    a = makeScheduler('A', {
      handlers: {
        ...recordingHandlers('A'),
        async callbackDue(id) {
          fired.push({ kind: 'callback', id, instance: 'A' });
          // A callback that could not be placed moves itself to a later time (flows do this).
          if (countFor(id) === 1) await a!.scheduleCallback(id, new Date(Date.now() + 700));
        },
      },
    });
    await a.start();
    await a.scheduleCallback('self-1', new Date(Date.now() + 200));

    await waitFor('the re-scheduled run', () => countFor('self-1') === 2);
    await sleep(1000);
    assert.equal(countFor('self-1'), 2);
    assert.deepEqual(await a.pending('self-1'), []);
  });

  it('retries a failing handler with backoff until it succeeds, and logs the failure', async () => {
    const { logger, records } = capturingLogger();
    let attempts = 0;
    const a = makeScheduler('A', {
      logger,
      handlers: {
        ...recordingHandlers('A'),
        async callbackDue(id) {
          attempts += 1;
          if (attempts === 1) throw new Error('agent desk unreachable');
          fired.push({ kind: 'callback', id, instance: 'A' });
        },
      },
    });
    await a.start();
    await a.scheduleCallback('flaky-1', new Date(Date.now() + 200));

    await waitFor('the retry to succeed', () => countFor('flaky-1') === 1);
    assert.equal(attempts, 2);
    const failure = records.find((r) => r.msg === 'job handler failed');
    assert.ok(failure, 'the failure is logged');
    assert.equal(failure.requestId, 'flaky-1');
    assert.equal(failure.err, 'agent desk unreachable');
    await waitFor('the job to leave the pending list', async () => (await a.pending('flaky-1')).length === 0, 3000);
  });

  it('gives up after the last retry and says so in the log', async () => {
    const { logger, records } = capturingLogger();
    let attempts = 0;
    const a = makeScheduler('A', {
      logger,
      retry: { maxRetries: 2, initialDelayMs: 100 },
      handlers: {
        ...recordingHandlers('A'),
        async expireRequest() {
          attempts += 1;
          throw new Error('store down');
        },
      },
    });
    await a.start();
    await a.scheduleExpiry('doomed-1', new Date(Date.now() + 100));

    await waitFor('the job to give up', () => records.some((r) => r.msg?.toString().startsWith('job gave up')));
    await sleep(800);
    assert.equal(attempts, 3); // the run and two retries
    const gaveUp = records.find((r) => r.msg?.toString().startsWith('job gave up'))!;
    assert.equal(gaveUp.level, 50);
    assert.equal(gaveUp.requestId, 'doomed-1');
    assert.deepEqual(await a.pending('doomed-1'), []);
  });

  it('removes the row of a job that fired and keeps, unlocked, one that gave up', async () => {
    const { logger, records } = capturingLogger();
    const a = makeScheduler('A', {
      logger,
      retry: { maxRetries: 1, initialDelayMs: 100 },
      handlers: {
        ...recordingHandlers('A'),
        async expireRequest(id) {
          if (id === 'kept-1') throw new Error('store down');
          fired.push({ kind: 'expire', id, instance: 'A' });
        },
      },
    });
    await a.start();
    await a.scheduleExpiry('gone-1', new Date(Date.now() + 100));
    await a.scheduleExpiry('kept-1', new Date(Date.now() + 100));

    await waitFor('the failing job to give up', () => records.some((r) => r.msg?.toString().startsWith('job gave up')));
    await waitFor('the job to fire', () => countFor('gone-1') === 1);
    const rows = async (id: string) => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        return (await c.query(`SELECT locked_at, failed_at, next_run_at FROM agenda_jobs WHERE data->>'requestId' = $1`, [id])).rows;
      } finally {
        await c.end();
      }
    };
    await waitFor('the fired job’s row to go', async () => (await rows('gone-1')).length === 0);
    await sleep(300); // a late save must not bring it back
    assert.deepEqual(await rows('gone-1'), []);
    const kept = await rows('kept-1');
    assert.equal(kept.length, 1);
    assert.equal(kept[0].locked_at, null);
    assert.ok(kept[0].failed_at instanceof Date);
    assert.equal(countFor('gone-1'), 1);
  });

  it('does not hand a slow handler’s job to another instance', async () => {
    const config = { processEveryMs: 200, lockLifetimeMs: 1000, housekeepingCron: '*/5 * * * *', staleSessionHours: 12 };
    const slow = (instance: string): JobHandlers => ({
      ...recordingHandlers(instance),
      async remindCustomer(id) {
        fired.push({ kind: 'remind', id, instance });
        await sleep(2500); // well past the lock lifetime
      },
    });
    const a = makeScheduler('A', { config, handlers: slow('A') });
    const b = makeScheduler('B', { config, handlers: slow('B') });
    await Promise.all([a.start(), b.start()]);
    await a.scheduleReminder('slow-1', new Date(Date.now() + 300));

    await waitFor('the job to start', () => countFor('slow-1') === 1);
    await sleep(3500);
    assert.equal(countFor('slow-1'), 1);
  });

  it('runs a transfer job with its data', async () => {
    const a = makeScheduler('A');
    await a.start();
    const id = await a.scheduleTransfer({ ref: 'transfer-1', toGroup: 'billing' });
    assert.match(id, /^[0-9a-f-]{36}$/);
    await waitFor('the transfer to run', () => countFor('transfer-1') === 1);
  });

  it('refuses a job time that is not a date', async () => {
    const a = makeScheduler('A');
    await assert.rejects(a.scheduleExpiry('bad-1', new Date('not a date')), { code: 'validation_failed' });
    await assert.rejects(a.scheduleCallback('', new Date()), { code: 'validation_failed' });
  });
});
