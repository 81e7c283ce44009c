/**
 * The two cluster buses on a real database, at the edges the service tests do not reach:
 * - the live event log: an id taken by a transaction that commits late is waited for, not
 *   skipped (the events behind it are held until it is in); an id that never commits is given up
 *   after the wait; a request's change older than one already shown is not shown after it; a
 *   stream resuming further back than memory reads the log;
 * - instance commands: answered across processes, an owner's refusal comes back as its error,
 *   and an owner that does not answer is `unavailable` after the timeout.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import { createClusterEvents, type ClusterEvents } from '../../src/flows/live-events.js';
import type { LiveEvent, StreamedEvent } from '../../src/flows/ports.js';
import { AppError } from '../../src/domain/errors.js';
import { createInstanceCommands, type InstanceCommands } from '../../src/store/instance-commands.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitFor } from '../support/wait-for.js';

const logger = pino({ level: 'silent' });
const agentEvent = (agentId: string): LiveEvent => ({ type: 'agent.changed', agentId, availability: 'busy', at: new Date().toISOString() });
const requestEvent = (requestId: string, state: 'notified' | 'accepted'): LiveEvent => ({
  type: 'request.changed',
  requestId,
  agentId: 'a',
  customerId: 'c',
  state,
  reason: 'test',
  at: new Date().toISOString(),
});

describe('cluster buses on PostgreSQL', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let store: Store;
  let pool: pg.Pool;

  before(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url, logger });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });

  after(async () => {
    await pool?.end();
    await store?.close();
    await db?.drop();
  });

  describe('the live event log', () => {
    let reader: ClusterEvents;
    const seen: StreamedEvent[] = [];
    const agents = () => seen.map((s) => (s.event.type === 'agent.changed' ? s.event.agentId : s.event.type));

    beforeEach(async () => {
      seen.length = 0;
      reader = createClusterEvents({ log: store.liveEvents, origin: 'reader', logger, pollMs: 50, gapWaitMs: 1_500 });
      await reader.start();
      reader.follow!(null, (e) => void seen.push(e));
    });
    afterEach(async () => {
      await reader.stop();
    });

    it('holds the events behind an id still being committed, then hands them out in id order', async () => {
      const slow = await pool.connect();
      try {
        await slow.query('BEGIN');
        // Takes the next id, and commits only later.
        await slow.query(`INSERT INTO live_events (origin, event) VALUES ('slow', $1)`, [JSON.stringify(agentEvent('first'))]);
        await store.liveEvents.append({ origin: 'fast', event: agentEvent('second') });
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(agents(), [], 'nothing overtakes the open id');
        await slow.query('COMMIT');
      } finally {
        slow.release();
      }
      await waitFor('both events', () => seen.length === 2);
      assert.deepEqual(agents(), ['first', 'second']);
      assert.ok(seen[0]!.id < seen[1]!.id);
    });

    it('gives up an id that never commits after the wait, and goes on', async () => {
      const lost = await pool.connect();
      try {
        await lost.query('BEGIN');
        await lost.query(`INSERT INTO live_events (origin, event) VALUES ('lost', $1)`, [JSON.stringify(agentEvent('never'))]);
        await store.liveEvents.append({ origin: 'fast', event: agentEvent('after') });
        const started = Date.now();
        await lost.query('ROLLBACK');
        await waitFor('the event after the hole', () => seen.length === 1);
        assert.deepEqual(agents(), ['after']);
        assert.ok(Date.now() - started >= 1_000, 'the hole was waited for');
      } finally {
        lost.release();
      }
    });

    it('never shows a request going back: an older version written later is not shown', async () => {
      await store.liveEvents.append({ origin: 'b', requestId: '00000000-0000-4000-8000-000000000001', requestVersion: 3, event: requestEvent('00000000-0000-4000-8000-000000000001', 'accepted') });
      await store.liveEvents.append({ origin: 'a', requestId: '00000000-0000-4000-8000-000000000001', requestVersion: 2, event: requestEvent('00000000-0000-4000-8000-000000000001', 'notified') });
      await store.liveEvents.append({ origin: 'a', event: agentEvent('marker') });
      await waitFor('the marker', () => agents().includes('marker'));
      assert.deepEqual(
        seen.filter((s) => s.event.type === 'request.changed').map((s) => (s.event as Extract<LiveEvent, { type: 'request.changed' }>).state),
        ['accepted'],
      );
    });

    it('resumes a stream from further back than memory out of the log, then live, without a duplicate', async () => {
      const small = createClusterEvents({ log: store.liveEvents, origin: 'small', logger, pollMs: 50, recent: 2 });
      await small.start();
      try {
        const from = await store.liveEvents.lastId();
        for (const name of ['r1', 'r2', 'r3', 'r4']) await store.liveEvents.append({ origin: 'x', event: agentEvent(name) });
        await waitFor('the reader to catch up', () => agents().includes('r4'));
        // Give the small reader time to read them too (its memory keeps only the last two).
        await new Promise((r) => setTimeout(r, 300));
        const got: string[] = [];
        small.follow!(from, (e) => void got.push(e.event.type === 'agent.changed' ? e.event.agentId : e.event.type));
        await store.liveEvents.append({ origin: 'x', event: agentEvent('r5') });
        await waitFor('the live one after the missed ones', () => got.includes('r5'));
        assert.deepEqual(got, ['r1', 'r2', 'r3', 'r4', 'r5']);
      } finally {
        await small.stop();
      }
    });
  });

  describe('a stream resuming after an id the log never issued', () => {
    it('starts from now instead of waiting for the log to reach it', async () => {
      const reader = createClusterEvents({ log: store.liveEvents, origin: 'reader', logger, pollMs: 50 });
      await reader.start();
      try {
        const got: string[] = [];
        reader.follow!(1e12, (e) => void got.push(e.event.type === 'agent.changed' ? e.event.agentId : e.event.type));
        await new Promise((r) => setTimeout(r, 200));
        await store.liveEvents.append({ origin: 'x', event: agentEvent('fresh') });
        await waitFor('the new event', () => got.includes('fresh'));
      } finally {
        await reader.stop();
      }
    });
  });

  describe('instance commands', () => {
    let one: InstanceCommands;
    let two: InstanceCommands;

    before(async () => {
      one = createInstanceCommands({ url: db.url, instanceId: 'one', logger, handle: async () => 'from one' });
      two = createInstanceCommands({
        url: db.url,
        instanceId: 'two',
        logger,
        handle: async (kind, data) => {
          if (kind === 'refuse') throw new AppError('conflict', 'The call is no longer held here.');
          return { kind, echoed: data.value };
        },
      });
      await Promise.all([one.start(), two.start()]);
    });
    after(async () => {
      await one?.stop();
      await two?.stop();
    });

    it('runs a command on the instance it is addressed to and brings back its answer', async () => {
      assert.deepEqual(await one.ask('two', 'echo', { value: 42 }, 3_000), { kind: 'echo', echoed: 42 });
      assert.equal(await one.ask('one', 'echo', {}, 3_000), 'from one');
    });

    it("brings back the owner's refusal as its error", async () => {
      await assert.rejects(one.ask('two', 'refuse', {}, 3_000), (e: AppError) => e.code === 'conflict' && /no longer held/.test(e.message));
    });

    it('says unavailable when the owner does not answer in time', async () => {
      const started = Date.now();
      await assert.rejects(one.ask('gone', 'echo', {}, 500), (e: AppError) => e.code === 'unavailable' && /did not answer within 0.5 s/.test(e.message));
      assert.ok(Date.now() - started >= 450);
    });
  });
});
