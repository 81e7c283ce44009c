/**
 * Seeds the directory the API benchmark needs, straight through the store: one group, agents
 * signed in, and customers with one enrolled phone each (device key, passkey, PIN and a push
 * subscription). Secrets are hashed once and reused: the benchmark measures knocks, not scrypt.
 */
import type { FlowDeps } from '../src/flows/ports.js';
import type { PushSubscription } from '../src/domain/model.js';
import { importDevicePublicKey } from '../src/security/device-key.js';
import { hashPassword, sipHa1, sipHa1Sha256 } from '../src/security/passwords.js';
import { hashPin } from '../src/security/pin.js';
import { randomSecret, sha256Hex } from '../src/security/secrets.js';
import { SoftDeviceKey } from '../test/support/soft-authenticator.js';
import { inParallel } from './stats.js';

export interface PasskeyPublic {
  credentialId: string;
  /** base64url COSE key */
  publicKey: string;
}

export interface SeededDirectory {
  /** Agent sign-in tokens. */
  agentTokens: string[];
  customers: Array<{ id: string; credential: string }>;
}

export interface SeedInput {
  agents: number;
  passkeys: PasskeyPublic[];
  /** One per customer; null = no push subscription. */
  subscriptions: Array<PushSubscription | null>;
}

const GROUP = 'bench';

export async function seedDirectory(deps: FlowDeps, input: SeedInput): Promise<SeededDirectory> {
  const { store, config } = deps;
  const now = deps.clock();
  await store.groups.upsert({
    id: GROUP,
    name: 'Benchmark team',
    timeZone: 'UTC',
    businessHours: config.scheduling.businessHours,
    slotCapacity: null,
    slotMinutes: 30,
    callbackMode: 'customer_calls',
  });

  const password = 'bench-password-1';
  const passwordHash = await hashPassword(password);
  const agentTokens: string[] = [];
  for (let i = 0; i < input.agents; i++) {
    const extension = String(2000 + i);
    const agent = await store.agents.create({
      username: `bench-agent-${i}`,
      name: `Bench Agent ${i}`,
      extension,
      groups: [GROUP],
      role: 'agent',
      secrets: {
        passwordHash,
        sipHa1: sipHa1(extension, config.sip.domain, password),
        sipHa1Sha256: sipHa1Sha256(extension, config.sip.domain, password),
        sipRealm: config.sip.domain,
      },
    });
    const token = `agt_${randomSecret(32)}`;
    await store.agentLogins.create(sha256Hex(token), agent.id, new Date(now.getTime() + 12 * 3_600_000));
    agentTokens.push(token);
  }

  const pinHash = await hashPin('482916');
  const customers: SeededDirectory['customers'] = new Array(input.passkeys.length);
  await inParallel(input.passkeys, 8, async (passkey, i) => {
    const customer = await store.customers.create({
      name: `Bench Customer ${i}`,
      phoneE164: `+4477009${String(i).padStart(5, '0')}`,
      timeZone: 'Europe/London',
      externalRef: `bench-${i}`,
    });
    const key = importDevicePublicKey(new SoftDeviceKey().publicJwk);
    const credential = `dev_${randomSecret(32)}`;
    await store.devices.create({
      customerId: customer.id,
      label: 'Bench phone',
      publicKeyJwk: { ...key.jwk },
      keyThumbprint: key.thumbprint,
      webauthn: { credentialId: passkey.credentialId, publicKey: passkey.publicKey, counter: 0, transports: ['internal'] },
      pushSubscription: input.subscriptions[i] ?? null,
      pinHash,
      credentialHash: sha256Hex(credential),
    });
    customers[i] = { id: customer.id, credential };
  });
  return { agentTokens, customers };
}
