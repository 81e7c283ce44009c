/** JSON shapes the API returns: what each audience may see, and nothing secret. */
import { allowedAnswers } from '../domain/call-request.js';
import type { Agent, CallRequest, Customer, Device, NotificationRecord } from '../domain/model.js';

/** The agent's desk phone as the registrar sees it: live, registered but unreachable, or none. */
export type PhoneState = 'registered' | 'unreachable' | 'none';

export function agentView(a: Agent, phone?: PhoneState) {
  return {
    id: a.id,
    username: a.username,
    name: a.name,
    extension: a.extension,
    groups: a.groups,
    availability: a.availability,
    idleSince: a.idleSince,
    role: a.role,
    ...(phone ? { phone } : {}),
  };
}

export function customerView(c: Customer) {
  return { id: c.id, name: c.name, phone: c.phoneE164, timeZone: c.timeZone, externalRef: c.externalRef };
}

export function requestView(r: CallRequest, now: Date) {
  return {
    id: r.id,
    state: r.state,
    reference: r.reference,
    reason: r.reason,
    customerId: r.customerId,
    agentId: r.agentId,
    groupId: r.groupId,
    requestedAt: r.requestedAt,
    answerDeadline: r.answerDeadline,
    scheduledFor: r.scheduledFor,
    scheduleNote: r.scheduleNote,
    snoozeUntil: r.snoozeUntil,
    verification: r.authMethod ? { method: r.authMethod, at: r.authenticatedAt } : null,
    attempts: r.attempts,
    outcome: r.outcome,
    allowedAnswers: allowedAnswers(r, now),
    updatedAt: r.updatedAt,
  };
}

/** What the customer's app sees: the agent's name, not their id or extension. */
export function appRequestView(r: CallRequest, deviceId: string, agentName: string, now: Date, remindChoicesMinutes: number[]) {
  return {
    id: r.id,
    state: r.state,
    agentName,
    reference: r.reference,
    reason: r.reason,
    answerDeadline: r.answerDeadline,
    scheduledFor: r.scheduledFor,
    scheduleNote: r.scheduleNote,
    snoozeUntil: r.snoozeUntil,
    actions: allowedAnswers(r, now, deviceId),
    remindChoicesMinutes,
  };
}

export function notificationView(n: NotificationRecord) {
  return { id: n.id, kind: n.kind, replaces: n.replacesId, channel: n.channel, status: n.status, error: n.error, at: n.createdAt };
}

export function deviceView(d: Device) {
  return {
    id: d.id,
    customerId: d.customerId,
    label: d.label,
    keyThumbprint: d.keyThumbprint,
    passkey: d.webauthn !== null,
    pin: d.hasPin,
    push: d.pushSubscription !== null,
    createdAt: d.createdAt,
    lastSeenAt: d.lastSeenAt,
  };
}
