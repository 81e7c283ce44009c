import assert from 'node:assert/strict';
import { rankAgents, pickAgent, queueOrder } from '../../src/domain/agent-selection.js';
import { checkCallbackTime, isWithinBusinessHours, nextOpenTime, nextRetryTime, upcomingSlots, validateWeeklyHours, type SchedulePolicy } from '../../src/domain/callback-schedule.js';
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
