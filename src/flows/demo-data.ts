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
  if (winner !== marker) {
    await offerDemoEnrollment(deps);
    return false;
  }
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
  deps.logger.info({ customerId: customer.id }, 'demo data loaded: agents anna and ben, an admin (passwords in the README), customer Chris Customer');
  await offerDemoEnrollment(deps);
  return true;
}

/**
 * Every start while the demo customer has no enrolled device: a fresh enrollment code, on one line
 * of its own that says where to use it and how to get another.
 */
async function offerDemoEnrollment(deps: FlowDeps): Promise<void> {
  const [customer] = await deps.store.customers.search(DEMO.customer.externalRef, 1);
  if (!customer) return;
  const again = `npm run admin -- enrollment-code --customer ${customer.id}`;
  if ((await deps.store.devices.listForCustomer(customer.id)).length > 0) {
    deps.logger.info({ customerId: customer.id }, `${customer.name}'s app is enrolled; to enrol another device: ${again}`);
    return;
  }
  const { code, expiresAt } = await issueEnrollmentCode(deps, customer.id, 'system');
  const minutes = Math.round((expiresAt.getTime() - deps.clock().getTime()) / 60_000);
  deps.logger.info(
    { customerId: customer.id, expiresAt },
    `Enrollment code for ${customer.name}'s app: ${code} (open ${deps.config.server.publicUrl}/app/; valid ${minutes} minutes, once; a new one: ${again})`,
  );
}
