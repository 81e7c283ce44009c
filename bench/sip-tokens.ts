/**
 * Real pre-authentication tokens for the SIP benchmark. A directory of customers (one enrolled
 * phone each) and agents is written through the store once; then, just before each load step
 * (tokens live at most two minutes), call requests are created already in the `authenticated`
 * state the biometric step leaves them in, and a token is issued for each exactly as the
 * authenticate flow does. Each request pairs a distinct (customer, agent) because the store
 * keeps one open request per pair. Each call also gets the app's device proof (the device key's
 * signature over the token's jti, the Call-ID and the From tag sipp will use), so the check runs
 * exactly as for a real phone.
 */
import { issueCallToken } from '../src/flows/accept.js';
import type { FlowDeps } from '../src/flows/ports.js';
import { importDevicePublicKey } from '../src/security/device-key.js';
import { deviceProofInput } from '../src/security/device-proof.js';
import { SoftDeviceKey } from '../test/support/soft-authenticator.js';
import { inParallel } from './stats.js';

const GROUP = 'sip-bench';

/** The Call-ID and From tag call number `n` (1-based) of a sipp run gets (see bench/sip-load.ts). */
export function benchCallIdentity(callIdPrefix: string, n: number): { callId: string; fromTag: string } {
  return { callId: `${callIdPrefix}-${n}`, fromTag: `bt${n}` };
}

export interface TokenSource {
  /** The benchmark's agents (nobody signs in; the media part registers their desk phones). */
  agents: Array<{ id: string; extension: string }>;
  /**
   * Issues `count` fresh tokens, one per new authenticated call request, and returns sipp
   * injection lines `token;proof` for calls 1..count of a run using `callIdPrefix`.
   */
  issue(count: number, callIdPrefix: string): Promise<string[]>;
}

/**
 * `agents`: how many agents; by default just enough for maxCalls pairs, filled customer by
 * customer. When given, consecutive calls go to consecutive agents instead (calls that are up
 * at the same time each have their own agent, as the media part needs).
 */
export async function seedTokenSource(deps: FlowDeps, opts: { customers: number; maxCalls: number; agents?: number }): Promise<TokenSource> {
  const { store, config } = deps;
  await store.groups.upsert({
    id: GROUP,
    name: 'SIP benchmark team',
    timeZone: 'UTC',
    businessHours: config.scheduling.businessHours,
    slotCapacity: null,
    slotMinutes: 30,
    callbackMode: 'customer_calls',
  });
  const agentCount = opts.agents ?? Math.ceil(opts.maxCalls / opts.customers);
  const agentIds: string[] = [];
  const agents: TokenSource['agents'] = [];
  for (let i = 0; i < agentCount; i++) {
    // Nobody signs in or registers: the secrets only have to be present.
    const agent = await store.agents.create({
      username: `sip-bench-agent-${i}`,
      name: `SIP Bench Agent ${i}`,
      extension: String(3000 + i),
      groups: [GROUP],
      role: 'agent',
      secrets: { passwordHash: 'unused', sipHa1: 'unused', sipHa1Sha256: 'unused', sipRealm: config.sip.domain },
    });
    agentIds.push(agent.id);
    agents.push({ id: agent.id, extension: agent.extension });
  }
  const customers: Array<{ id: string; deviceId: string; thumbprint: string; key: SoftDeviceKey }> = new Array(opts.customers);
  await inParallel(Array.from({ length: opts.customers }, (_, i) => i), 8, async (i) => {
    const customer = await store.customers.create({
      name: `SIP Bench Customer ${i}`,
      phoneE164: `+4477008${String(i).padStart(5, '0')}`,
      timeZone: 'Europe/London',
      externalRef: `sip-bench-${i}`,
    });
    const soft = new SoftDeviceKey();
    const key = importDevicePublicKey(soft.publicJwk);
    const device = await store.devices.create({
      customerId: customer.id,
      label: 'Bench phone',
      publicKeyJwk: { ...key.jwk },
      keyThumbprint: key.thumbprint,
      webauthn: null,
      pushSubscription: null,
      pinHash: null,
      credentialHash: `unused-${i}`,
    });
    customers[i] = { id: customer.id, deviceId: device.id, thumbprint: key.thumbprint, key: soft };
  });

  let next = 0;
  const pairOf = (k: number) =>
    opts.agents
      ? { c: customers[Math.floor(k / agentCount) % opts.customers]!, agentId: agentIds[k % agentCount]! }
      : { c: customers[k % opts.customers]!, agentId: agentIds[Math.floor(k / opts.customers)]! };
  return {
    agents,
    async issue(count, callIdPrefix) {
      if (next + count > opts.customers * agentCount) throw new Error('the benchmark directory has no unused (customer, agent) pairs left');
      const first = next;
      next += count;
      const tokens: string[] = new Array(count);
      await inParallel(Array.from({ length: count }, (_, i) => first + i), 8, async (k, i) => {
        const { c, agentId } = pairOf(k);
        const now = deps.clock();
        const { request } = await store.callRequests.create({
          reference: `SIP-BENCH-${k}`,
          reason: 'SIP benchmark',
          customerId: c.id,
          agentId,
          groupId: GROUP,
          requestedAt: now,
          createdBy: agentId,
          idempotencyKey: null,
          state: 'authenticated',
          answerDeadline: new Date(now.getTime() + 30 * 60_000),
          acceptedDeviceId: c.deviceId,
          authMethod: 'biometric',
          authenticatedAt: now,
          scheduledFor: null,
          scheduleNote: null,
          snoozeUntil: null,
          holdUntil: null,
          attempts: 0,
          outcome: null,
        });
        const issued = await issueCallToken(deps, request, { id: c.deviceId, keyThumbprint: c.thumbprint }, 'biometric', now);
        const proof = c.key.sign(deviceProofInput({ jti: issued.jti, ...benchCallIdentity(callIdPrefix, i + 1) }));
        tokens[i] = `${issued.token};${proof}`;
      });
      return tokens;
    },
  };
}
