/**
 * A small contact center for the SIP call suites, set up the way users do it: a group, agents
 * (console password = desk phone password), a customer whose phone is enrolled through the API
 * with a passkey and a push subscription; then `verifiedCall` runs the real knock → accept →
 * biometric ceremony over HTTP and returns the pre-authentication token the app would put in
 * its INVITE.
 */
import assert from 'node:assert/strict';
import type { CallbackMode } from '../../src/domain/call-request.js';
import type { Agent } from '../../src/domain/model.js';
import { createAgent, saveGroup } from '../../src/flows/directory.js';
import { SoftAuthenticator, SoftDeviceKey } from './soft-authenticator.js';
import type { TestService } from './test-service.js';

export const DESK_PHONE_PASSWORD = 'desk-phone-secret-1';
const PIN = '246810';

export interface ContactCenter {
  agents: Record<string, Agent>;
  customerId: string;
  deviceId: string;
  /** Console sign-in token per agent username. */
  consoleTokens: Record<string, string>;
  /** The customer's device credential (the app's API bearer). */
  deviceCredential: string;
  authenticator: SoftAuthenticator;
}

export async function setUpContactCenter(
  t: TestService,
  opts: { agents: Array<{ username: string; name: string; extension: string }>; callbackMode?: CallbackMode },
): Promise<ContactCenter> {
  const deps = t.service.deps;
  await saveGroup(deps, {
    id: 'support',
    name: 'Support',
    timeZone: 'UTC',
    businessHours: deps.config.scheduling.businessHours,
    slotCapacity: null,
    slotMinutes: 30,
    callbackMode: opts.callbackMode ?? 'customer_calls',
  });
  const agents: Record<string, Agent> = {};
  const consoleTokens: Record<string, string> = {};
  for (const a of opts.agents) {
    agents[a.username] = await createAgent(deps, { ...a, password: DESK_PHONE_PASSWORD, groups: ['support'], role: 'admin' });
    const login = await t.call('POST', '/api/v1/auth/login', { body: { username: a.username, password: DESK_PHONE_PASSWORD } });
    assert.equal(login.status, 200, login.text);
    consoleTokens[a.username] = login.body.token;
  }
  const first = consoleTokens[opts.agents[0]!.username]!;
  const created = await t.call('POST', '/api/v1/customers', { token: first, body: { name: 'Chris Customer', phone: '+447700900123', timeZone: 'Europe/London' } });
  assert.equal(created.status, 201, created.text);
  const customerId = created.body.id as string;

  const code = await t.call('POST', `/api/v1/customers/${customerId}/enrollment-codes`, { token: first });
  assert.equal(code.status, 201, code.text);
  const key = new SoftDeviceKey();
  const enrolled = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'Test phone', publicKeyJwk: key.publicJwk, pin: PIN } });
  assert.equal(enrolled.status, 201, enrolled.text);
  const deviceCredential = enrolled.body.credential as string;
  const authenticator = new SoftAuthenticator({ rpId: t.config.auth.webauthn.rpId, origin: t.config.auth.webauthn.origins[0]! });
  const options = await t.call('POST', '/api/v1/devices/me/passkey/options', { token: deviceCredential });
  assert.equal(options.status, 200, options.text);
  const registered = await t.call('POST', '/api/v1/devices/me/passkey', {
    token: deviceCredential,
    body: { challengeId: options.body.challengeId, response: authenticator.register(options.body.options) },
  });
  assert.equal(registered.status, 204, registered.text);
  const push = t.push.createSubscription();
  const sub = await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: deviceCredential, body: push.subscription });
  assert.equal(sub.status, 204, sub.text);
  return { agents, customerId, deviceId: enrolled.body.device.id, consoleTokens, deviceCredential, authenticator };
}

/** The agent knocks; the customer accepts with the passkey; returns the token for the INVITE. */
export async function verifiedCall(t: TestService, cc: ContactCenter, agentUsername: string, reference: string): Promise<{ requestId: string; token: string }> {
  const knock = await t.call('POST', '/api/v1/call-requests', {
    token: cc.consoleTokens[agentUsername]!,
    body: { customerId: cc.customerId, reason: 'Suspicious card payment', reference },
  });
  assert.equal(knock.status, 201, knock.text);
  const requestId = knock.body.id as string;
  const challenge = await t.call('POST', `/api/v1/app/requests/${requestId}/accept`, { token: cc.deviceCredential });
  assert.equal(challenge.status, 200, challenge.text);
  const issued = await t.call('POST', `/api/v1/app/requests/${requestId}/authenticate`, {
    token: cc.deviceCredential,
    body: { challengeId: challenge.body.challengeId, method: 'biometric', webauthn: cc.authenticator.assert(challenge.body.webauthn) },
  });
  assert.equal(issued.status, 200, issued.text);
  return { requestId, token: issued.body.token as string };
}
