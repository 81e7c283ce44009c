/**
 * The demo data set the embedded database gets on first start, so a newcomer can try the whole
 * flow at once (README "Try it"). Loaded once: a setting records that it was.
 */
import { createAgent, createCustomer, saveGroup } from './directory.js';
import { issueEnrollmentCode } from './enrollment.js';
import type { FlowDeps } from './ports.js';

export const DEMO = {
  group: 'support',
  admin: { username: 'admin', password: 'demo-admin-password', extension: '1000' },
  agents: [
    { username: 'anna', name: 'Anna Agent', extension: '1001', password: 'demo-password-1001' },
    { username: 'ben', name: 'Ben Agent', extension: '1002', password: 'demo-password-1002' },
  ],
  customer: { name: 'Chris Customer', phone: '+447700900123', externalRef: 'CRM-1001' },
} as const;

export async function loadDemoData(deps: FlowDeps): Promise<boolean> {
  const marker = `loading:${process.pid}:${Date.now()}`;
  const winner = await deps.store.settings.setIfAbsent('demo.loaded', marker);
  if (winner !== marker) return false;
  const s = deps.config.scheduling;
  await saveGroup(deps, {
    id: DEMO.group,
    name: 'Customer support',
    timeZone: s.defaultTimeZone,
    businessHours: s.businessHours,
    slotCapacity: null,
    slotMinutes: s.slotMinutes,
    callbackMode: s.callbackMode,
  });
  await createAgent(deps, { ...DEMO.admin, name: 'Demo Admin', groups: [], role: 'admin' });
  for (const a of DEMO.agents) await createAgent(deps, { ...a, groups: [DEMO.group] });
  const customer = await createCustomer(deps, { ...DEMO.customer, timeZone: s.defaultTimeZone });
  const { code, expiresAt } = await issueEnrollmentCode(deps, customer.id, 'system');
  deps.logger.info(
    { customerId: customer.id, enrollmentCode: code, expiresAt },
    'demo data loaded: agents anna/ben (passwords in README), admin, customer Chris Customer with this enrollment code',
  );
  return true;
}
