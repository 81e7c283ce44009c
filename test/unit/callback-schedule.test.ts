import assert from 'node:assert/strict';
import { rankAgents, pickAgent, queueOrder } from '../../src/domain/agent-selection.js';
import { checkCallbackTime, closedDateProblems, isWithinBusinessHours, nextOpenTime, nextRetryTime, upcomingSlots, validateWeeklyHours, type SchedulePolicy } from '../../src/domain/callback-schedule.js';
import { AppError } from '../../src/domain/errors.js';
import type { Agent } from '../../src/domain/model.js';

// Monday 2 March 2026, 09:00 in London (GMT).
const monday9 = new Date('2026-03-02T09:00:00Z');
const policy: SchedulePolicy = {
  hours: { timeZone: 'Europe/London', weekly: { '1': ['08:00-12:00', '13:00-18:00'], '2': ['08:00-18:00'] } },
  horizonDays: 30,
  slotMinutes: 30,
};

function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof AppError ? e.code : 'other';
  }
}

describe('callback scheduling rules', () => {
  it('accepts a time inside business hours in the group time zone', () => {
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T14:00:00Z'), monday9, policy)), null);
  });

  it('refuses lunch, nights, past and beyond the horizon with distinct reasons', () => {
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T12:30:00Z'), monday9, policy)), 'outside_business_hours');
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T22:00:00Z'), monday9, policy)), 'outside_business_hours');
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T08:30:00Z'), monday9, policy)), 'in_the_past');
    assert.equal(code(() => checkCallbackTime(new Date('2026-05-04T09:00:00Z'), monday9, policy)), 'beyond_horizon');
  });

  it('offers the next opening time when outside hours', () => {
    try {
      checkCallbackTime(new Date('2026-03-02T12:15:00Z'), monday9, policy);
      assert.fail('should refuse');
    } catch (e) {
      assert.ok(e instanceof AppError);
      assert.equal(e.details?.nextOpen, '2026-03-02T13:00:00.000Z');
    }
  });

  it('follows daylight saving time of the zone', () => {
    // 31 March 2026 (Tuesday) London is on BST (UTC+1): 08:00 local is 07:00Z.
    assert.equal(isWithinBusinessHours(new Date('2026-03-31T07:30:00Z'), policy.hours), true);
    assert.equal(isWithinBusinessHours(new Date('2026-03-31T17:30:00Z'), policy.hours), false);
  });

  it('finds the next opening across closed days', () => {
    // Tuesday 18:00 -> next is the following Monday 08:00.
    assert.equal(nextOpenTime(new Date('2026-03-03T18:00:00Z'), policy.hours)?.toISOString(), '2026-03-09T08:00:00.000Z');
  });

  it('lists upcoming slots inside hours only', () => {
    const slots = upcomingSlots(new Date('2026-03-02T11:15:00Z'), monday9, policy, 3).map((d) => d.toISOString());
    assert.deepEqual(slots, ['2026-03-02T11:30:00.000Z', '2026-03-02T13:00:00.000Z', '2026-03-02T13:30:00.000Z']);
  });

  it('never offers nor accepts a closed date (a public holiday), and names the day', () => {
    // Tuesday 3 March 2026 closed: Monday's last slots, then Wednesday... no: Wednesday has no hours; next Monday.
    const holiday: SchedulePolicy = { ...policy, hours: { ...policy.hours, closedDates: ['2026-03-03'] } };
    assert.equal(isWithinBusinessHours(new Date('2026-03-03T10:00:00Z'), holiday.hours), false);
    const slots = upcomingSlots(new Date('2026-03-02T17:00:00Z'), monday9, holiday, 2).map((d) => d.toISOString());
    assert.deepEqual(slots, ['2026-03-02T17:30:00.000Z', '2026-03-09T08:00:00.000Z']);
    try {
      checkCallbackTime(new Date('2026-03-03T10:00:00Z'), monday9, holiday);
      assert.fail('should refuse');
    } catch (e) {
      assert.ok(e instanceof AppError);
      assert.equal(e.code, 'outside_business_hours');
      assert.equal(e.message, 'We are closed on Tuesday 3 March 2026; pick another day.');
      assert.equal(e.details?.closedDate, '2026-03-03');
      assert.equal(e.details?.nextOpen, '2026-03-09T08:00:00.000Z');
    }
    // Closed dates are days of the group's zone: 23:30Z on 2 March is already 3 March in Tokyo.
    const tokyo: SchedulePolicy = { ...policy, hours: { timeZone: 'Asia/Tokyo', weekly: { '2': ['00:00-24:00'] }, closedDates: ['2026-03-03'] } };
    assert.equal(isWithinBusinessHours(new Date('2026-03-02T23:30:00Z'), tokyo.hours), false);
    assert.deepEqual(closedDateProblems(['2026-12-25', '2026-02-30', '25/12/2026']), [
      '[1] "2026-02-30" is not a calendar date written YYYY-MM-DD (e.g. 2026-12-25)',
      '[2] "25/12/2026" is not a calendar date written YYYY-MM-DD (e.g. 2026-12-25)',
    ]);
  });

  it('accepts slot starts only, naming the nearest slots of a time between them', () => {
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T09:30:00Z'), monday9, policy)), null);
    const refusal = (now: Date) => {
      try {
        checkCallbackTime(new Date('2026-03-02T09:10:00Z'), now, policy);
      } catch (e) {
        assert.ok(e instanceof AppError);
        assert.equal(e.code, 'not_a_slot');
        return e;
      }
      return assert.fail('should refuse');
    };
    const early = refusal(new Date('2026-03-02T08:00:00Z'));
    assert.equal(early.message, 'Callbacks start every 30 minutes: 09:10 is not a slot start; the nearest are 09:00 and 09:30 (Europe/London).');
    assert.deepEqual(early.details?.nearest, ['2026-03-02T09:00:00.000Z', '2026-03-02T09:30:00.000Z']);
    // At 09:00 the slot before has begun: only the next one is named.
    assert.equal(refusal(monday9).message, 'Callbacks start every 30 minutes: 09:10 is not a slot start; the nearest is 09:30 (Europe/London).');
    // Seconds count too: 14:00:30 is not 14:00.
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T14:00:30Z'), monday9, policy)), 'not_a_slot');
    // …and the refusal shows them, or "09:00 is not a slot start" would contradict itself.
    assert.throws(() => checkCallbackTime(new Date('2026-03-02T14:00:30Z'), monday9, policy), /14:00:30 is not a slot start; the nearest are 14:00 and 14:30/);
    assert.equal(code(() => checkCallbackTime(new Date('2026-03-02T09:10:00Z'), monday9, { ...policy, slotStartsOnly: false })), null);
    // Hours opening between two slot starts offer the next start, never the opening minute.
    const odd: SchedulePolicy = { ...policy, hours: { timeZone: 'Europe/London', weekly: { '1': ['09:10-11:00'] } } };
    assert.deepEqual(upcomingSlots(monday9, new Date('2026-03-02T08:00:00Z'), odd, 2).map((d) => d.toISOString()), ['2026-03-02T09:30:00.000Z', '2026-03-02T10:00:00.000Z']);
  });

  it('validates weekly tables', () => {
    assert.equal(code(() => validateWeeklyHours({ '8': ['08:00-09:00'] } as never)), 'validation_failed');
    assert.equal(code(() => validateWeeklyHours({ '1': ['18:00-08:00'] })), 'validation_failed');
    assert.equal(code(() => validateWeeklyHours({ '1': ['8-9'] })), 'validation_failed');
  });

  it('retries per policy and gives up', () => {
    const retry = { attempts: 2, spacingMinutes: 10, retryOn: ['no_answer' as const, 'busy' as const] };
    assert.equal(nextRetryTime(retry, 1, 'no_answer', monday9)?.toISOString(), '2026-03-02T09:10:00.000Z');
    assert.equal(nextRetryTime(retry, 2, 'no_answer', monday9), null);
    assert.equal(nextRetryTime(retry, 1, 'failed', monday9), null);
  });

  it('retries an attempt a lost component ended as it retries a failed one', () => {
    const failedRetried = { attempts: 2, spacingMinutes: 10, retryOn: ['failed' as const] };
    for (const cause of ['media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'] as const) {
      assert.equal(nextRetryTime(failedRetried, 1, cause, monday9)?.toISOString(), '2026-03-02T09:10:00.000Z', cause);
      assert.equal(nextRetryTime({ ...failedRetried, retryOn: ['busy'] }, 1, cause, monday9), null, cause);
    }
  });
});

function agent(id: string, availability: Agent['availability'], idle: string | null): Agent {
  return { id, username: id, name: id, extension: '100' + id, groups: ['g'], availability, idleSince: idle ? new Date(idle) : null, role: 'agent', createdAt: monday9 };
}

describe('agent selection', () => {
  const agents = [agent('a', 'available', '2026-03-02T08:50:00Z'), agent('b', 'available', '2026-03-02T08:10:00Z'), agent('c', 'busy', '2026-03-02T07:00:00Z')];
  it('prefers the owning agent when free', () => {
    assert.equal(pickAgent(agents, 'a')?.id, 'a');
  });
  it('otherwise takes the longest idle available agent', () => {
    assert.equal(pickAgent(agents, 'c')?.id, 'b');
    assert.deepEqual(rankAgents(agents, null).map((x) => x.id), ['b', 'a']);
  });
  it('returns nobody when nobody is free', () => {
    assert.equal(pickAgent([agents[2]!], null), null);
  });
  it('orders waiting work by the original request time', () => {
    const items = [
      { id: '2', requestedAt: new Date('2026-03-02T09:05:00Z') },
      { id: '1', requestedAt: new Date('2026-03-01T09:00:00Z') },
    ];
    assert.deepEqual(queueOrder(items).map((x) => x.id), ['1', '2']);
  });
});
