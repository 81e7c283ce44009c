/**
 * The scheduling rules that apply to a request: its agent group's, or the deployment defaults
 * from configuration when the request has no group; closed dates always come from configuration
 * (`scheduling.closedDates` for every group, `scheduling.groupClosedDates.<group>` for one).
 */
import type { CallbackMode } from '../domain/call-request.js';
import type { SchedulePolicy } from '../domain/callback-schedule.js';
import type { FlowDeps } from './ports.js';

export interface GroupPolicy extends SchedulePolicy {
  slotCapacity: number | null;
  callbackMode: CallbackMode;
}

export async function policyFor(deps: Pick<FlowDeps, 'store' | 'config'>, groupId: string | null): Promise<GroupPolicy> {
  const s = deps.config.scheduling;
  const group = groupId ? await deps.store.groups.get(groupId) : null;
  return {
    hours: {
      timeZone: group?.timeZone ?? s.defaultTimeZone,
      weekly: group?.businessHours ?? s.businessHours,
      // Every group's closed dates (public holidays) and this group's own, in the group's zone.
      closedDates: [...s.closedDates, ...((groupId && s.groupClosedDates[groupId]) || [])],
    },
    horizonDays: s.horizonDays,
    slotMinutes: group?.slotMinutes ?? s.slotMinutes,
    slotStartsOnly: s.slotStartsOnly,
    slotCapacity: group ? group.slotCapacity : s.slotCapacity || null,
    callbackMode: group?.callbackMode ?? s.callbackMode,
  };
}
