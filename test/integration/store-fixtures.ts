/** Realistic records for the store suites, each unique so suites can share a database. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Agent, CallRequest, Customer, Device } from '../../src/domain/model.js';
import type { NewCallRequest, Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { openStore } from '../../src/store/pg-store.js';

export const tag = () => randomBytes(4).toString('hex');

export interface StoreFixture {
  db: TestDatabase;
  store: Store;
  close(): Promise<void>;
}

export async function openTestStore(): Promise<StoreFixture> {
  const db = await createTestDatabase();
  const store = await openStore({ url: db.url, poolSize: 12 });
  return {
    db,
    store,
    async close() {
      await store.close();
      await db.drop();
    },
  };
}

/**
 * A fresh store for the suite: opened before its tests, closed (and its database dropped) after
 * them. The returned Store forwards to it, so tests read `store.x` as they would the real one.
 */
export function useTestStore(): Store {
  let fx: StoreFixture | undefined;
  before(async () => {
    fx = await openTestStore();
  });
  after(async () => {
    await fx?.close();
  });
  return new Proxy({} as Store, {
    get(_, key) {
      if (!fx) throw new Error('the suite store is not open yet');
      const value: unknown = Reflect.get(fx.store, key);
      return typeof value === 'function' ? value.bind(fx.store) : value;
    },
  });
}

export async function makeGroup(store: Store, id = `billing-${tag()}`) {
  return store.groups.upsert({
    id,
    name: 'Billing',
    timeZone: 'Europe/London',
    businessHours: { '1': ['09:00-17:00'], '2': ['09:00-17:00'] },
    slotCapacity: 4,
    slotMinutes: 30,
    callbackMode: 'agent_calls',
  });
}

export async function makeAgent(store: Store, groups: string[] = []): Promise<Agent> {
  const t = tag();
  return store.agents.create({
    username: `alice-${t}`,
    name: 'Alice Smith',
    extension: `1${parseInt(t, 16) % 1_000_000}`,
    groups,
    role: 'agent',
    secrets: {
      passwordHash: 'scrypt$N=16384$salt$hash',
      sipHa1: 'a'.repeat(32),
      sipHa1Sha256: 'b'.repeat(64),
      sipRealm: 'knock.localhost',
    },
  });
}

export async function makeCustomer(store: Store): Promise<Customer> {
  return store.customers.create({
    name: `Bob Jones ${tag()}`,
    phoneE164: '+441632960123',
    timeZone: 'Europe/London',
    externalRef: `CRM-${tag()}`,
  });
}

/** `credentialHash`: when the test reads the device back by its credential. */
export async function makeDevice(store: Store, customerId: string, credentialHash = randomBytes(32).toString('hex')): Promise<Device> {
  return store.devices.create({
    customerId,
    label: 'Pixel 8',
    publicKeyJwk: { kty: 'EC', crv: 'P-256', x: tag(), y: tag() },
    keyThumbprint: `thumb-${tag()}`,
    webauthn: null,
    pushSubscription: null,
    pinHash: 'scrypt$pin',
    credentialHash,
  });
}

export function newRequest(agentId: string, customerId: string, overrides: Partial<NewCallRequest> = {}): NewCallRequest {
  const now = new Date();
  return {
    reference: `INC-${tag()}`,
    reason: 'Your card payment was declined',
    customerId,
    groupId: null,
    agentId,
    state: 'requested',
    answerDeadline: new Date(now.getTime() + 5 * 60_000),
    acceptedDeviceId: null,
    authMethod: null,
    authenticatedAt: null,
    scheduledFor: null,
    scheduleNote: null,
    snoozeUntil: null,
    holdUntil: null,
    attempts: 0,
    outcome: null,
    requestedAt: now,
    createdBy: agentId,
    idempotencyKey: null,
    ...overrides,
  };
}

export async function makeRequest(store: Store, overrides: Partial<NewCallRequest> = {}): Promise<{
  agent: Agent;
  customer: Customer;
  device: Device;
  request: CallRequest;
}> {
  const agent = await makeAgent(store);
  const customer = await makeCustomer(store);
  const device = await makeDevice(store, customer.id);
  const { request } = await store.callRequests.create(newRequest(agent.id, customer.id, overrides));
  return { agent, customer, device, request };
}

export const uuid = () => randomUUID();
