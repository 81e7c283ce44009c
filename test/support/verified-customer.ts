/**
 * A small contact center for the SIP call suites, set up the way users do it: a group, agents
 * (console password = desk phone password), a customer whose phone is enrolled through the API
 * with a passkey and a push subscription (`enrolPhone`, also used on its own); then `verifiedCall` runs the real knock → accept →
 * biometric ceremony over HTTP and returns the pre-authentication token the app would put in
 * its INVITE.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CallbackMode } from '../../src/domain/call-request.js';
import type { Agent } from '../../src/domain/model.js';
import { createAgent, saveGroup } from '../../src/flows/directory.js';
import { deviceProofInput } from '../../src/security/device-proof.js';
import type { TestSubscription } from './fake-push-service.js';
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
  /** The enrolled phone's device key (signs the Knock-Device-Proof of each call). */
  deviceKey: SoftDeviceKey;
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

  const phone = await enrolPhone(t, first, customerId, PIN);
  return { agents, customerId, deviceId: phone.deviceId, consoleTokens, deviceCredential: phone.credential, authenticator: phone.authenticator, deviceKey: phone.key };
}

export interface EnrolledPhone {
  /** The device credential (the app's API bearer). */
  credential: string;
  deviceId: string;
  key: SoftDeviceKey;
  authenticator: SoftAuthenticator;
  push: TestSubscription;
}

/**
 * Enrols a phone for the customer the way the app does it over HTTP: an enrollment code issued
 * by an agent (`agentToken`), the device key and PIN, a passkey, a push subscription.
 */
export async function enrolPhone(t: TestService, agentToken: string, customerId: string, pin: string): Promise<EnrolledPhone> {
  const code = await t.call('POST', `/api/v1/customers/${customerId}/enrollment-codes`, { token: agentToken });
  assert.equal(code.status, 201, code.text);
  const key = new SoftDeviceKey();
  const enrolled = await t.call('POST', '/api/v1/devices', { body: { enrollmentCode: code.body.code, label: 'Test phone', publicKeyJwk: key.publicJwk, pin } });
  assert.equal(enrolled.status, 201, enrolled.text);
  const credential = enrolled.body.credential as string;
  const authenticator = new SoftAuthenticator({ rpId: t.config.auth.webauthn.rpId, origin: t.config.auth.webauthn.origins[0]! });
  const options = await t.call('POST', '/api/v1/devices/me/passkey/options', { token: credential });
  assert.equal(options.status, 200, options.text);
  const registered = await t.call('POST', '/api/v1/devices/me/passkey', {
    token: credential,
    body: { challengeId: options.body.challengeId, response: authenticator.register(options.body.options) },
  });
  assert.equal(registered.status, 204, registered.text);
  const push = t.push.createSubscription();
  const sub = await t.call('PUT', '/api/v1/devices/me/push-subscription', { token: credential, body: push.subscription });
  assert.equal(sub.status, 204, sub.text);
  return { credential, deviceId: enrolled.body.device.id, key, authenticator, push };
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

/** Anna knocks; the customer picks "in two seconds" in the app. Returns the request's id. */
export async function scheduledCallbackSoon(t: TestService, cc: ContactCenter, reference: string): Promise<string> {
  const knock = await t.call('POST', '/api/v1/call-requests', {
    token: cc.consoleTokens.anna!,
    body: { customerId: cc.customerId, reason: 'Card payment check', reference },
  });
  assert.equal(knock.status, 201, knock.text);
  const at = new Date(Date.now() + 2_000);
  const scheduled = await t.call('POST', `/api/v1/app/requests/${knock.body.id}/schedule`, { token: cc.deviceCredential, body: { at: at.toISOString() } });
  assert.equal(scheduled.status, 200, scheduled.text);
  return knock.body.id as string;
}

/** The jti the app reads from its token's payload. */
export function tokenJti(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown };
  return typeof payload.jti === 'string' ? payload.jti : '';
}

/** The Knock-Device-Proof the app signs with its device key for one call. */
export function deviceProofFor(key: SoftDeviceKey, token: string, callId: string, fromTag: string): string {
  return key.sign(deviceProofInput({ jti: tokenJti(token), callId, fromTag }));
}

export interface CallerArgs {
  /** sipp -key values: token, from_tag, proof (the scenario's [token], [from_tag], [proof]). */
  vars: { token: string; from_tag: string; proof: string };
  /** Fixes the Call-ID the proof is signed over (`-cid_str`; one call per sipp run). */
  extraArgs: string[];
  callId: string;
}

/**
 * What a customer-call sipp scenario needs to place the app's call: the app chooses Call-ID and
 * From tag before sending, so the proof can be signed in advance. `key` defaults to the enrolled
 * phone's; pass another key to play a different device; `proof: ''` sends an empty proof header.
 */
export function callerArgs(cc: ContactCenter, token: string, opts: { key?: SoftDeviceKey; proof?: string } = {}): CallerArgs {
  const callId = `app-${randomBytes(8).toString('hex')}@127.0.0.1`;
  const fromTag = `app${randomBytes(6).toString('hex')}`;
  const proof = opts.proof ?? deviceProofFor(opts.key ?? cc.deviceKey, token, callId, fromTag);
  return { vars: { token, from_tag: fromTag, proof }, extraArgs: ['-cid_str', callId], callId };
}
