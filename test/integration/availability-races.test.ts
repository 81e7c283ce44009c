/**
 * Availability follows the desk phones under every interleaving (real PostgreSQL): an
 * unregister, an expiry or a new registration racing the end of the agent's call, each round
 * with random offsets of a few milliseconds. The agent must end available exactly when a live
 * binding is left.
 */
import assert from 'node:assert/strict';
import { releaseAgent } from '../../src/flows/agent-availability.js';
import { deskPhoneRegistered, deskPhoneUnregistered, expireDeskPhoneRegistrations } from '../../src/flows/desk-phone.js';
import { createAgent } from '../../src/flows/directory.js';
import type { FlowDeps } from '../../src/flows/ports.js';
import { startTestService, type TestService } from '../support/test-service.js';

const ROUNDS = 50;
const jitter = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 6)));

describe('availability follows the desk phones under racing unregister, expiry and call end', function () {
  this.timeout(120_000);
  let t: TestService;
  let deps: FlowDeps;
  let agentId: string;
  const extension = '1701';
  const contact = 'sip:1701@127.0.0.1:5070';

  before(async () => {
    t = await startTestService();
    // The desk phone rules apply where SIP runs; this service needs no drachtio-server for them.
    deps = { ...t.service.deps, config: { ...t.service.deps.config, sip: { ...t.service.deps.config.sip, enabled: true } } };
    agentId = (await createAgent(deps, { username: 'racer', name: 'Race Agent', extension, password: 'race-password-1', groups: [], role: 'agent' })).id;
  });
  after(async () => {
    await t?.stop();
  });

  const bind = (expiresInMs: number) =>
    deps.store.registrations.upsert({ extension, contact, source: 'udp/127.0.0.1:5070', callId: `c-${Math.random()}`, cseq: 1, userAgent: null, expiresAt: new Date(deps.clock().getTime() + expiresInMs) }, deps.clock());
  const onACall = async () => {
    await deps.store.agents.setAvailability(agentId, 'busy', deps.clock());
  };
  const state = async () => ({
    availability: (await deps.store.agents.get(agentId))!.availability,
    live: (await deps.store.registrations.list(extension, deps.clock())).length,
  });

  it(`unregister vs hang-up (${ROUNDS} rounds): never available without a phone`, async () => {
    const seen = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      await deps.store.registrations.removeAll(extension);
      await bind(600_000);
      await onACall();
      await Promise.all([
        (async () => {
          await jitter();
          await deps.store.registrations.remove(extension, contact); // what the registrar does for Expires: 0
          await deskPhoneUnregistered(deps, extension);
        })(),
        (async () => {
          await jitter();
          if (await releaseAgent(deps, agentId)) seen.add('released first');
          else seen.add('unregistered first');
        })(),
      ]);
      assert.deepEqual(await state(), { availability: 'offline', live: 0 }, `round ${i}`);
    }
    console.log(`      ${ROUNDS} rounds, orders seen: ${[...seen].join(', ')}`);
  });

  it(`expiry vs hang-up (${ROUNDS} rounds): an expired binding does not keep the agent available`, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      await deps.store.registrations.removeAll(extension);
      await bind(1); // lapses at once; housekeeping purges it while the call ends
      await onACall();
      await new Promise((r) => setTimeout(r, 2));
      await Promise.all([
        (async () => {
          await jitter();
          await expireDeskPhoneRegistrations(deps);
        })(),
        (async () => {
          await jitter();
          await releaseAgent(deps, agentId);
        })(),
      ]);
      assert.equal((await state()).availability, 'offline', `round ${i}`);
    }
  });

  it(`registration vs hang-up (${ROUNDS} rounds): a phone that registers while the call ends leaves the agent available`, async () => {
    for (let i = 0; i < ROUNDS; i++) {
      await deps.store.registrations.removeAll(extension);
      await onACall();
      await Promise.all([
        (async () => {
          await jitter();
          await bind(600_000);
          await deskPhoneRegistered(deps, extension);
        })(),
        (async () => {
          await jitter();
          await releaseAgent(deps, agentId);
        })(),
      ]);
      assert.deepEqual(await state(), { availability: 'available', live: 1 }, `round ${i}`);
    }
  });

  it('a phone marked unreachable takes the agent offline; its next REGISTER brings them back', async () => {
    await deps.store.registrations.removeAll(extension);
    await bind(600_000);
    await deskPhoneRegistered(deps, extension);
    await deps.store.agents.setAvailability(agentId, 'available', deps.clock());
    assert.equal(await deps.store.registrations.markUnreachable(extension, contact, deps.clock()), true);
    assert.equal(await deps.store.registrations.markUnreachable(extension, contact, deps.clock()), false, 'marked once');
    await deskPhoneUnregistered(deps, extension);
    assert.equal((await state()).availability, 'offline');
    assert.equal((await deps.store.registrations.phoneStates(deps.clock())).get(extension), 'unreachable');
    await bind(600_000);
    await deskPhoneRegistered(deps, extension);
    assert.equal((await state()).availability, 'available');
    assert.equal((await deps.store.registrations.phoneStates(deps.clock())).get(extension), 'registered');
  });
});
