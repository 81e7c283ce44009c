/**
 * No request is left stuck, and "Remind me later" keeps its word, timed by the real job runner
 * on the real database. The job runner keeps real time while the service's clock can be shifted:
 * a step taken with the clock set back writes its job due that much earlier in real time, so a
 * hold of two minutes or a reminder in 30 minutes comes due within a second.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { setUpContactCenter, type ContactCenter } from '../support/verified-customer.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

describe('call request life cycle: bounded holds and reminders', function () {
  this.timeout(60_000);
  let t: TestService;
  let cc: ContactCenter;
  let anna: string;
  /** The hold of a verified request: the token's life plus the call-setup margin. */
  let verifiedHoldMs: number;
  let answerMs: number;

  before(async () => {
    t = await startTestService({ KNOCK_REQUESTS__REMIND_CHOICES_MINUTES: '[30,60,1440]' });
    cc = await setUpContactCenter(t, { agents: [{ username: 'anna', name: 'Anna Smith', extension: '1001' }] });
    anna = cc.consoleTokens.anna!;
    verifiedHoldMs = (t.config.tokens.lifetimeSeconds + 15) * 1000;
    answerMs = t.config.requests.answerTimeLimitSeconds * 1000;
  });

  after(async () => {
    await t?.stop();
  });

  /** Runs `step` with the service's clock set back by `ms`, then puts it right again. */
  async function withClockBack<T>(ms: number, step: () => Promise<T>): Promise<T> {
    t.advance(-ms);
    try {
      return await step();
    } finally {
      t.advance(ms);
    }
  }

  /** Runs `step` with the service's clock set ahead by `ms`, then puts it right again. */
  const withClockAhead = <T>(ms: number, step: () => Promise<T>): Promise<T> => withClockBack(-ms, step);

  async function knock(reference: string) {
    const res = await t.call('POST', '/api/v1/call-requests', { token: anna, body: { customerId: cc.customerId, reason: 'Card payment check', reference } });
    assert.equal(res.status, 201, res.text);
    return res.body as { id: string; answerDeadline: string };
  }

  async function verify(id: string) {
    const challenge = await t.call('POST', `/api/v1/app/requests/${id}/accept`, { token: cc.deviceCredential });
    assert.equal(challenge.status, 200, challenge.text);
    const issued = await t.call('POST', `/api/v1/app/requests/${id}/authenticate`, {
      token: cc.deviceCredential,
      body: { challengeId: challenge.body.challengeId, method: 'biometric', webauthn: cc.authenticator.assert(challenge.body.webauthn) },
    });
    assert.equal(issued.status, 200, issued.text);
    return issued.body as { token: string };
  }

  const agentView = async (id: string) => (await t.call('GET', `/api/v1/call-requests/${id}`, { token: anna })).body;
  const appView = async (id: string) => (await t.call('GET', `/api/v1/app/requests/${id}`, { token: cc.deviceCredential })).body;
  const jobsOf = async (id: string) => (await t.service.scheduler.pending(id)).map((j) => j.name);

  it('gives a verified request with no call back to the customer when its hold runs out, to verify again', async () => {
    const req = await knock('HOLD-1');
    // Verified with the clock set back by the hold (less a second, so the job cannot fire before
    // the clock is put right): the lapse job comes due a second from now in real time.
    await withClockBack(verifiedHoldMs - 1_000, () => verify(req.id));

    await waitFor('the request back with the customer', async () => (await agentView(req.id)).state === 'notified');
    const view = await agentView(req.id);
    assert.equal(view.verification ?? null, null, 'no longer shown as verified');
    assert.equal((await appView(req.id)).actions.accept, true);
    assert.deepEqual(await jobsOf(req.id), ['request.expire']);
    const lapse = (await t.service.deps.store.audit.list({ subject: `call_request:${req.id}` })).find((e) => e.action === 'request.lapse' && e.decision === 'allow');
    assert.equal(lapse?.reason, 'authenticated -> notified');

    // The customer tries again: a fresh biometric, a new token.
    await verify(req.id);
    assert.equal((await agentView(req.id)).state, 'authenticated');
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });
  });

  it('lets the verified phone start again at once, with a fresh authentication', async () => {
    const req = await knock('HOLD-2');
    await verify(req.id);
    // The app offers "Try again" because the request says so.
    assert.equal((await appView(req.id)).actions.accept, true);
    const again = await t.call('POST', `/api/v1/app/requests/${req.id}/accept`, { token: cc.deviceCredential });
    assert.equal(again.status, 200, again.text);
    assert.equal((await agentView(req.id)).state, 'accepted');
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });
  });

  it('expires a verified request with no call once the answer window has closed, saying why', async () => {
    const req = await knock('HOLD-3');
    // The lapse job comes due in about a second; by then the clock is past the answer window.
    await withClockBack(verifiedHoldMs - 1_000, () => verify(req.id));
    await withClockAhead(answerMs, () => waitFor('the request expired', async () => (await agentView(req.id)).state === 'expired'));
    const view = await agentView(req.id);
    assert.equal(view.outcome, 'no_call');
    const app = await appView(req.id);
    assert.deepEqual(app.actions, { accept: false, schedule: true, snooze: false });
    assert.deepEqual(await jobsOf(req.id), []);
    // The customer is told only scheduling is left.
    const delivered = await t.service.deps.store.notifications.listFor(req.id);
    assert.ok(delivered.some((n) => n.kind === 'expired' && n.status === 'sent'), JSON.stringify(delivered.map((n) => n.kind)));
    // And the pair is free for a new knock.
    const next = await knock('HOLD-3b');
    assert.notEqual(next.id, req.id);
    await t.call('POST', `/api/v1/call-requests/${next.id}/cancel`, { token: anna });
  });

  it('returns an accepted request whose authentication never came', async () => {
    const req = await knock('HOLD-4');
    const challengeMs = t.config.auth.challengeLifetimeSeconds * 1000;
    await withClockBack(challengeMs - 1_000, async () => {
      const c = await t.call('POST', `/api/v1/app/requests/${req.id}/accept`, { token: cc.deviceCredential });
      assert.equal(c.status, 200, c.text);
    });
    await waitFor('the request back with the customer', async () => (await agentView(req.id)).state === 'notified');
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });
  });

  it('expires an accepted request that was never verified with its own outcome, not as verified', async () => {
    const req = await knock('HOLD-5');
    const challengeMs = t.config.auth.challengeLifetimeSeconds * 1000;
    await withClockBack(challengeMs - 1_000, async () => {
      const c = await t.call('POST', `/api/v1/app/requests/${req.id}/accept`, { token: cc.deviceCredential });
      assert.equal(c.status, 200, c.text);
    });
    await withClockAhead(answerMs, () => waitFor('the request expired', async () => (await agentView(req.id)).state === 'expired'));
    const view = await agentView(req.id);
    assert.equal(view.outcome, 'not_verified');
    assert.equal(view.verification ?? null, null);
  });

  it('keeps a snoozed request answerable until the reminder, which opens a fresh answer window', async () => {
    const req = await knock('SNOOZE-1');
    const snoozed = await t.call('POST', `/api/v1/app/requests/${req.id}/snooze`, { token: cc.deviceCredential, body: { minutes: 30 } });
    assert.equal(snoozed.status, 200, snoozed.text);
    const remindAt = new Date(snoozed.body.snoozeUntil).getTime();
    // Answerable until the reminder, not just until the first deadline.
    assert.equal(new Date(snoozed.body.answerDeadline).getTime(), remindAt);
    assert.deepEqual(await jobsOf(req.id), ['request.remind']);
    await withClockAhead(answerMs + 60_000, async () => {
      assert.equal((await appView(req.id)).actions.accept, true, 'past the first deadline, before the reminder');
    });
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });

    // A reminder that comes due: snoozed with the clock 30 minutes back, so it fires now.
    const other = await knock('SNOOZE-2');
    const pushesBefore = (await t.service.deps.store.notifications.listFor(other.id)).length;
    await withClockBack(30 * 60_000 - 1_000, async () => {
      const r = await t.call('POST', `/api/v1/app/requests/${other.id}/snooze`, { token: cc.deviceCredential, body: { minutes: 30 } });
      assert.equal(r.status, 200, r.text);
    });
    await waitFor('the reminder', async () => (await agentView(other.id)).state === 'notified');
    const view = await agentView(other.id);
    const deadline = new Date(view.answerDeadline).getTime();
    assert.ok(Math.abs(deadline - (Date.now() + answerMs)) < 10_000, `a fresh answer window: ${view.answerDeadline}`);
    // The reminder goes out through the outbox, after the move that opened the window.
    await waitFor('the reminder sent', async () => (await t.service.deps.store.notifications.listFor(other.id)).slice(pushesBefore).some((n) => n.kind === 'reminder' && n.status === 'sent'));
    assert.deepEqual(await jobsOf(other.id), ['request.expire']);
    const accept = await t.call('POST', `/api/v1/app/requests/${other.id}/accept`, { token: cc.deviceCredential });
    assert.equal(accept.status, 200, accept.text);
    await t.call('POST', `/api/v1/call-requests/${other.id}/cancel`, { token: anna });
  });

  it('stamps the device as last seen when it verifies, at most once a minute', async () => {
    const db = new pg.Client({ connectionString: t.db.url });
    await db.connect();
    try {
      await db.query('UPDATE devices SET last_seen_at = NULL WHERE id = $1', [cc.deviceId]);
    } finally {
      await db.end();
    }
    const seen = async () => (await t.call('GET', '/api/v1/devices/me', { token: cc.deviceCredential })).body.lastSeenAt as string | null;
    assert.equal(await seen(), null);
    const req = await knock('SEEN-1');
    await verify(req.id);
    const first = await seen();
    assert.ok(first, 'seen once it verified');
    // Verifying again within the minute writes nothing; a minute later it does.
    await verify(req.id);
    assert.equal(await seen(), first);
    await withClockAhead(61_000, () => verify(req.id));
    assert.ok(Date.parse((await seen())!) >= Date.parse(first) + 60_000, 'stamped again after a minute');
    await t.call('POST', `/api/v1/call-requests/${req.id}/cancel`, { token: anna });
  });

  describe('a second knock', () => {
    const post = (body: object, key?: string) =>
      t.call('POST', '/api/v1/call-requests', { token: anna, headers: key ? { 'Idempotency-Key': key } : {}, body: { customerId: cc.customerId, ...body } });
    const sentFor = async (id: string) => (await t.service.deps.store.notifications.listFor(id)).length;

    it('names the callback time when the request in the way is a scheduled one', async () => {
      const first = await knock('SCHED-OPEN-1');
      const slots = await t.call('GET', `/api/v1/app/requests/${first.id}/slots?limit=5`, { token: cc.deviceCredential });
      assert.equal(slots.status, 200, slots.text);
      const at = slots.body.slots[slots.body.slots.length - 1].start as string;
      const scheduled = await t.call('POST', `/api/v1/app/requests/${first.id}/schedule`, { token: cc.deviceCredential, body: { at } });
      assert.equal(scheduled.status, 200, scheduled.text);

      const second = await post({ reason: 'Address change', reference: 'SCHED-OPEN-2' });
      assert.equal(second.status, 409, second.text);
      assert.equal(second.body.state, 'scheduled');
      assert.equal(second.body.scheduledFor, at, 'the callback time, not only the answer deadline long past');
      await t.call('POST', `/api/v1/call-requests/${first.id}/cancel`, { token: anna });
    });

    it('answers a new knock while one is answerable with 409 naming it, and a replay with the same answer', async () => {
      const first = await post({ reason: 'Card payment check', reference: 'TWICE-1' }, 'twice-1');
      assert.equal(first.status, 201, first.text);
      const replay = await post({ reference: 'TWICE-1', reason: 'Card payment check' }, 'twice-1');
      assert.equal(replay.status, 200, replay.text);
      assert.equal(replay.body.id, first.body.id);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      const pushes = await sentFor(first.body.id);

      const second = await post({ reason: 'Address change', reference: 'TWICE-2' }, 'twice-2');
      assert.equal(second.status, 409, second.text);
      assert.equal(second.body.code, 'request_already_open');
      assert.equal(second.body.requestId, first.body.id);
      assert.equal(second.body.reference, 'TWICE-1');
      assert.equal(second.body.state, 'notified');
      assert.equal(second.body.scheduledFor, null);
      assert.match(second.body.detail, /TWICE-1/);
      // Nothing was sent or stored for it; the same key and body get the same refusal.
      assert.equal(await sentFor(first.body.id), pushes);
      assert.equal((await t.service.deps.store.callRequests.list({ customerId: cc.customerId })).filter((r) => r.reference === 'TWICE-2').length, 0);
      assert.equal((await post({ reason: 'Address change', reference: 'TWICE-2' }, 'twice-2')).status, 409);
      // Without a key too.
      assert.equal((await post({ reason: 'Address change', reference: 'TWICE-3' })).status, 409);

      // Once the agent cancels it, the knock goes through.
      await t.call('POST', `/api/v1/call-requests/${first.body.id}/cancel`, { token: anna });
      const third = await post({ reason: 'Address change', reference: 'TWICE-2' }, 'twice-2');
      assert.equal(third.status, 201, third.text);
      await t.call('POST', `/api/v1/call-requests/${third.body.id}/cancel`, { token: anna });
    });

    it('makes exactly one request when eight knocks arrive at once, the others refused 409 naming it', async () => {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => post({ reason: 'Card payment check', reference: `RACE-${i}` }, `race-${i}`)),
      );
      const made = answers.filter((a) => a.status === 201);
      assert.equal(made.length, 1, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
      const winner = made[0]!.body.id as string;
      for (const a of answers.filter((x) => x.status !== 201)) {
        assert.equal(a.status, 409, a.text);
        assert.equal(a.body.code, 'request_already_open');
        assert.equal(a.body.requestId, winner);
      }
      const open = (await t.service.deps.store.callRequests.list({ customerId: cc.customerId })).filter((r) => r.reference.startsWith('RACE-'));
      assert.deepEqual(open.map((r) => r.id), [winner], 'one request stored');
      assert.equal(await sentFor(winner), 1, 'the customer was knocked once');
      await t.call('POST', `/api/v1/call-requests/${winner}/cancel`, { token: anna });
    });

    it('makes exactly one new request when eight knocks race to supersede one that can no longer be answered', async () => {
      const stale = await knock('RACE-OLD');
      t.advance(answerMs + 1_000);
      try {
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) => post({ reason: 'Card payment check', reference: `RACE-NEW-${i}` }, `race-new-${i}`)),
        );
        const made = answers.filter((a) => a.status === 201);
        assert.equal(made.length, 1, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
        for (const a of answers.filter((x) => x.status !== 201)) assert.equal(a.body.requestId, made[0]!.body.id, a.text);
        assert.equal((await agentView(stale.id)).state, 'cancelled');
        const fresh = (await t.service.deps.store.callRequests.list({ customerId: cc.customerId })).filter((r) => r.reference.startsWith('RACE-NEW-'));
        assert.equal(fresh.length, 1, 'one new request stored');
        await t.call('POST', `/api/v1/call-requests/${made[0]!.body.id}/cancel`, { token: anna });
      } finally {
        t.advance(-(answerMs + 1_000));
      }
    });

    it("lists the agent's latest requests first, so a long history never hides today's", async () => {
      const made: string[] = [];
      for (const ref of ['LIST-1', 'LIST-2', 'LIST-3']) {
        made.push((await knock(ref)).id);
        await t.call('POST', `/api/v1/call-requests/${made.at(-1)}/cancel`, { token: anna });
      }
      const all = await t.call('GET', '/api/v1/call-requests?scope=mine&limit=200', { token: anna });
      assert.equal(all.status, 200, all.text);
      const items = all.body.items as Array<{ reference: string; requestedAt: string }>;
      assert.deepEqual(items.map((r) => r.reference).filter((r) => r.startsWith('LIST-')), ['LIST-3', 'LIST-2', 'LIST-1']);
      const times = items.map((r) => Date.parse(r.requestedAt));
      assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
      // A short page holds the latest, not the oldest.
      const one = await t.call('GET', '/api/v1/call-requests?scope=mine&limit=1', { token: anna });
      assert.equal(one.body.items[0].requestedAt, items[0]!.requestedAt);
    });

    it('is not blocked by a verified request whose call never came and whose window closed, even with its lapse job lost', async () => {
      const stuck = await knock('STUCK-1');
      await verify(stuck.id);
      const db = new pg.Client({ connectionString: t.db.url });
      await db.connect();
      try {
        await db.query(`DELETE FROM agenda_jobs WHERE data->>'requestId' = $1`, [stuck.id]); // the lost job
      } finally {
        await db.end();
      }
      t.advance(answerMs + verifiedHoldMs);
      try {
        const fresh = await post({ reason: 'Card payment check', reference: 'STUCK-2' });
        assert.equal(fresh.status, 201, fresh.text);
        assert.notEqual(fresh.body.id, stuck.id);
        const old = await agentView(stuck.id);
        assert.equal(old.state, 'cancelled');
        const actions = (await t.service.deps.store.audit.list({ subject: `call_request:${stuck.id}` })).map((e) => `${e.action}:${e.decision}`);
        assert.deepEqual(actions.slice(-2), ['request.lapse:allow', 'request.cancel:allow']);
        await t.call('POST', `/api/v1/call-requests/${fresh.body.id}/cancel`, { token: anna });
      } finally {
        t.advance(-(answerMs + verifiedHoldMs));
      }
    });
  });
});
