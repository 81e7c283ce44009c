/**
 * Housekeeping against the real store: expired secrets are purged, stale sessions revoked,
 * live ones left alone; the cron timer runs rounds, logs them, and stops.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { runHousekeepingOnce, startHousekeeping, type HousekeepingTask } from '../../src/jobs/housekeeping.js';
import type { Store } from '../../src/store/store.js';
import { makeAgent, makeRequest, openTestStore, type StoreFixture } from './store-fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MINUTE = 60_000;

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

/** The tasks the service runs, on the real store. */
function storeTasks(store: Store, staleBefore: (now: Date) => Date): HousekeepingTask[] {
  return [
    { name: 'tokens', run: (now) => store.tokens.purgeExpired(now) },
    { name: 'challenges', run: (now) => store.challenges.purgeExpired(now) },
    { name: 'agentLogins', run: (now) => store.agentLogins.purgeExpired(now) },
    { name: 'sessions', run: (now) => store.sessions.revokeStale(staleBefore(now), now) },
  ];
}

describe('jobs housekeeping (PostgreSQL store)', function () {
  this.timeout(20_000);
  let fx: StoreFixture;

  before(async () => {
    fx = await openTestStore();
  });
  after(async () => {
    await fx.close();
  });

  it('purges expired tokens, challenges and sign-ins and revokes stale sessions, leaving live ones', async () => {
    const { store } = fx;
    const { request, customer, device } = await makeRequest(store);
    const agent = await makeAgent(store);
    const t0 = new Date();
    const at = (minutes: number) => new Date(t0.getTime() + minutes * MINUTE);

    const token = (expiresAt: Date) => ({ jti: randomUUID(), callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt });
    const oldToken = token(at(1));
    const liveToken = token(at(10));
    await store.tokens.record(oldToken);
    await store.tokens.record(liveToken);

    const challenge = (expiresAt: Date) => ({
      id: randomUUID(),
      deviceId: device.id,
      callRequestId: request.id,
      purpose: 'accept' as const,
      value: randomBytes(32).toString('base64url'),
      expiresAt,
    });
    await store.challenges.create(challenge(at(1)));
    const liveChallenge = await store.challenges.create(challenge(at(10)));

    const oldLogin = randomBytes(32).toString('hex');
    const liveLogin = randomBytes(32).toString('hex');
    await store.agentLogins.create(oldLogin, agent.id, at(1));
    await store.agentLogins.create(liveLogin, agent.id, at(10));

    const session = () => ({
      id: randomBytes(16).toString('hex'),
      callRequestId: request.id,
      customerId: customer.id,
      deviceId: device.id,
      authMethod: 'pin' as const,
      authenticatedAt: new Date(),
    });
    const staleSession = await store.sessions.create(session());
    const cutoff = new Date(staleSession.createdAt.getTime() + 1);
    await sleep(20);
    const freshSession = await store.sessions.create(session());

    // "Now" is five minutes on: the 1-minute records are past, the 10-minute ones are not.
    const outcomes = await runHousekeepingOnce(storeTasks(store, () => cutoff), at(5));

    assert.deepEqual(outcomes, [
      { name: 'tokens', purged: 1 },
      { name: 'challenges', purged: 1 },
      { name: 'agentLogins', purged: 1 },
      { name: 'sessions', purged: 1 },
    ]);
    assert.equal(await store.tokens.get(oldToken.jti), null);
    assert.notEqual(await store.tokens.get(liveToken.jti), null);
    assert.notEqual(await store.challenges.consume(liveChallenge.id, device.id, at(5)), null);
    assert.equal(await store.agentLogins.getAgentId(oldLogin, t0), null, 'the expired sign-in is gone');
    assert.equal(await store.agentLogins.getAgentId(liveLogin, at(5)), agent.id);
    assert.notEqual((await store.sessions.get(staleSession.id))?.revokedAt, null);
    assert.equal((await store.sessions.get(freshSession.id))?.revokedAt, null);

    // A second round finds nothing left to do.
    const again = await runHousekeepingOnce(storeTasks(store, () => cutoff), at(5));
    assert.deepEqual(again.map((o) => o.purged), [0, 0, 0, 0]);
  });

  it('keeps going when one task fails, and reports the failure', async () => {
    const { logger, records } = capturingLogger();
    const tasks: HousekeepingTask[] = [
      {
        name: 'broken',
        run: async () => {
          throw new Error('relation "nope" does not exist');
        },
      },
      { name: 'tokens', run: (now) => fx.store.tokens.purgeExpired(now) },
    ];
    const outcomes = await runHousekeepingOnce(tasks, new Date(), logger);
    assert.deepEqual(outcomes, [
      { name: 'broken', purged: null, error: 'relation "nope" does not exist' },
      { name: 'tokens', purged: 0 },
    ]);
    assert.ok(records.some((r) => r.msg === 'housekeeping task failed' && r.task === 'broken'));
  });

  it('runs rounds on its cron schedule, logs what each purged, and stops', async () => {
    const { logger, records } = capturingLogger();
    const { request, customer, device } = await makeRequest(fx.store);
    const jti = randomUUID();
    await fx.store.tokens.record({ jti, callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt: new Date(Date.now() - MINUTE) });

    const stop = startHousekeeping({
      cron: '* * * * * *', // every second
      logger,
      tasks: storeTasks(fx.store, (now) => new Date(now.getTime() - 12 * 3_600_000)),
    });
    const rounds = () => records.filter((r) => r.msg === 'housekeeping round done');
    try {
      const deadline = Date.now() + 5000;
      while (rounds().length === 0 && Date.now() < deadline) await sleep(50);
      assert.ok(rounds().length > 0, 'a round ran');
      assert.equal(await fx.store.tokens.get(jti), null, 'the expired token was purged by the timer');
      const purged = rounds().map((r) => (r.purged as Record<string, number>).tokens);
      assert.ok(purged.includes(1), `a round logged the purged token (logged: ${JSON.stringify(purged)})`);
    } finally {
      await stop();
    }
    const afterStop = rounds().length;
    await sleep(1500);
    assert.equal(rounds().length, afterStop, 'no rounds after stop');
  });

  it('refuses a schedule that is not a cron expression', () => {
    assert.throws(() => startHousekeeping({ cron: 'every five minutes', tasks: [], logger: pino({ level: 'silent' }) }), {
      code: 'validation_failed',
    });
  });
});
