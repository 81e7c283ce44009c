import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isAppError } from '../../src/domain/errors.js';
import {
  makeAgent,
  makeCustomer,
  makeDevice,
  makeGroup,
  makeRequest,
  newRequest,
  tag,
  useTestStore,
  uuid,
} from './store-fixtures.js';

const minutes = (n: number, from = new Date()) => new Date(from.getTime() + n * 60_000);

describe('store repositories round-trip', () => {
  const store = useTestStore();

  it('ping answers while open', async () => {
    assert.equal(await store.ping(), true);
  });

  describe('groups', () => {
    it('upserts, reads and lists a group', async () => {
      const g = await makeGroup(store);
      assert.deepEqual(await store.groups.get(g.id), g);
      const changed = await store.groups.upsert({ ...g, name: 'Billing & Payments', slotCapacity: null });
      assert.equal(changed.name, 'Billing & Payments');
      assert.equal(changed.slotCapacity, null);
      assert.deepEqual(changed.businessHours, g.businessHours);
      assert.ok((await store.groups.list()).some((x) => x.id === g.id && x.name === 'Billing & Payments'));
      assert.equal(await store.groups.get('no-such-group'), null);
    });
  });

  describe('agents', () => {
    it('creates an agent with ordered groups and finds it by id, username and extension', async () => {
      const g1 = await makeGroup(store);
      const g2 = await makeGroup(store);
      const agent = await makeAgent(store, [g2.id, g1.id]);
      assert.deepEqual(agent.groups, [g2.id, g1.id]);
      assert.equal(agent.availability, 'offline');
      assert.equal(agent.idleSince, null);
      assert.ok(agent.createdAt instanceof Date);
      assert.deepEqual(await store.agents.get(agent.id), agent);
      assert.deepEqual(await store.agents.getByUsername(agent.username), agent);
      assert.deepEqual(await store.agents.getByExtension(agent.extension), agent);
      assert.equal(await store.agents.get('not-a-uuid'), null);
      assert.equal(await store.agents.get(uuid()), null);
      // No secret leaks into the public record.
      assert.equal(JSON.stringify(agent).includes('scrypt'), false);
    });

    it('lists agents by group', async () => {
      const g = await makeGroup(store);
      const inGroup = await makeAgent(store, [g.id]);
      const other = await makeAgent(store);
      const listed = await store.agents.list({ groupId: g.id });
      assert.deepEqual(listed.map((a) => a.id), [inGroup.id]);
      const all = await store.agents.list();
      assert.ok(all.some((a) => a.id === other.id) && all.some((a) => a.id === inGroup.id));
    });

    it('refuses a duplicate username and an unknown group with clear errors', async () => {
      const a = await makeAgent(store);
      await assert.rejects(
        store.agents.create({ ...a, extension: `9${tag()}`, secrets: (await store.agents.secrets(a.id))! }),
        (e) => isAppError(e) && e.code === 'conflict' && /username/.test(e.message),
      );
      await assert.rejects(
        store.agents.create({
          username: `x-${tag()}`,
          name: 'X',
          extension: `8${tag()}`,
          groups: ['no-such-group'],
          role: 'agent',
          secrets: { passwordHash: 'h', sipHa1: 'h', sipHa1Sha256: null, sipRealm: 'r' },
        }),
        (e) => isAppError(e) && e.code === 'validation_failed' && /group/.test(e.message),
      );
    });

    it('keeps and replaces secrets', async () => {
      const a = await makeAgent(store);
      assert.deepEqual(await store.agents.secrets(a.id), {
        passwordHash: 'scrypt$N=16384$salt$hash',
        sipHa1: 'a'.repeat(32),
        sipHa1Sha256: 'b'.repeat(64),
        sipRealm: 'knock.localhost',
      });
      const next = { passwordHash: 'new', sipHa1: 'c'.repeat(32), sipHa1Sha256: null, sipRealm: 'other.realm' };
      await store.agents.updateSecrets(a.id, next);
      assert.deepEqual(await store.agents.secrets(a.id), next);
    });

    it('stamps idleSince only when the agent becomes available', async () => {
      const a = await makeAgent(store);
      const t1 = new Date('2030-01-01T09:00:00.000Z');
      const t2 = new Date('2030-01-01T09:05:00.000Z');
      const avail = await store.agents.setAvailability(a.id, 'available', t1);
      assert.equal(avail?.availability, 'available');
      assert.deepEqual(avail?.idleSince, t1);
      const again = await store.agents.setAvailability(a.id, 'available', t2);
      assert.deepEqual(again?.idleSince, t1, 'repeating "available" keeps the place in the idle queue');
      await store.agents.setAvailability(a.id, 'away', t2);
      const back = await store.agents.setAvailability(a.id, 'available', t2);
      assert.deepEqual(back?.idleSince, t2);
      assert.equal(await store.agents.setAvailability(uuid(), 'away', t2), null);
    });
  });

  describe('customers', () => {
    it('creates, reads and searches customers by name, phone or reference', async () => {
      const c = await makeCustomer(store);
      assert.deepEqual(await store.customers.get(c.id), c);
      const word = c.name.split(' ').pop()!;
      assert.deepEqual((await store.customers.search(word.toUpperCase(), 10)).map((x) => x.id), [c.id]);
      assert.ok((await store.customers.search(c.externalRef!.toLowerCase(), 10)).some((x) => x.id === c.id));
      assert.ok((await store.customers.search('1632960', 50)).some((x) => x.id === c.id));
      // Wildcards are literal.
      assert.deepEqual(await store.customers.search('%', 10), []);
    });

    it('refuses a phone number that is not E.164', async () => {
      await assert.rejects(
        store.customers.create({ name: 'Eve', phoneE164: '01632 960123', timeZone: 'Europe/London', externalRef: null }),
        (e) => isAppError(e) && e.code === 'validation_failed' && /E\.164/.test(e.message),
      );
    });
  });

  describe('devices', () => {
    it('creates a device and reads it back by id, credential hash and customer', async () => {
      const c = await makeCustomer(store);
      const credentialHash = randomBytes(32).toString('hex');
      const d = await store.devices.create({
        customerId: c.id,
        label: 'iPhone 15',
        publicKeyJwk: { kty: 'EC', crv: 'P-256', x: 'abc', y: 'def' },
        keyThumbprint: `tp-${tag()}`,
        webauthn: { credentialId: 'cred', publicKey: 'pk', counter: 3, transports: ['internal', 'hybrid'] },
        pushSubscription: { endpoint: 'https://push.example/1', keys: { p256dh: 'p', auth: 'a' } },
        pinHash: null,
        credentialHash,
      });
      assert.equal(d.hasPin, false);
      assert.equal(d.sipContact, null);
      assert.deepEqual(d.webauthn?.transports, ['internal', 'hybrid']);
      assert.deepEqual(await store.devices.get(d.id), d);
      assert.deepEqual(await store.devices.getByCredentialHash(credentialHash), d);
      assert.deepEqual(await store.devices.listForCustomer(c.id), [d]);
      assert.deepEqual(await store.devices.secrets(d.id), { pinHash: null, pinFailedAttempts: 0, pinLockedUntil: null, pinVersion: 0 });
    });

    it('updates PIN, WebAuthn, push subscription, SIP contact and last seen', async () => {
      const c = await makeCustomer(store);
      const d = await makeDevice(store, c.id);
      assert.equal(await store.devices.setPin(d.id, 'scrypt$newpin', 0), true);
      await store.devices.setWebAuthn(d.id, { credentialId: 'c1', publicKey: 'k1', counter: 0, transports: [] });
      await store.devices.updateWebAuthnCounter(d.id, 42);
      const sub = { endpoint: 'https://push.example/2', keys: { p256dh: 'p2', auth: 'a2' } };
      await store.devices.setPushSubscription(d.id, sub);
      await store.devices.setSipContact(d.id, 'sip:app@198.51.100.7:5060;transport=ws');
      const seen = new Date('2030-02-02T10:00:00.000Z');
      await store.devices.touch(d.id, seen);
      const got = (await store.devices.get(d.id))!;
      assert.equal(got.hasPin, true);
      assert.deepEqual(got.webauthn, { credentialId: 'c1', publicKey: 'k1', counter: 42, transports: [] });
      assert.deepEqual(got.pushSubscription, sub);
      assert.equal(got.sipContact, 'sip:app@198.51.100.7:5060;transport=ws');
      assert.deepEqual(got.lastSeenAt, seen);
      assert.equal((await store.devices.secrets(d.id))?.pinHash, 'scrypt$newpin');
      await store.devices.setWebAuthn(d.id, null);
      await store.devices.setPushSubscription(d.id, null);
      const cleared = (await store.devices.get(d.id))!;
      assert.equal(cleared.webauthn, null);
      assert.equal(cleared.pushSubscription, null);
    });

    it('drops a revoked device from the customer list', async () => {
      const c = await makeCustomer(store);
      const keep = await makeDevice(store, c.id);
      const gone = await makeDevice(store, c.id);
      const when = new Date('2030-03-03T03:03:03.000Z');
      await store.devices.revoke(gone.id, when);
      assert.deepEqual((await store.devices.listForCustomer(c.id)).map((d) => d.id), [keep.id]);
      assert.deepEqual((await store.devices.get(gone.id))?.revokedAt, when);
    });

    it("reads a device with one of its customer's requests, never another customer's", async () => {
      const { customer, request } = await makeRequest(store, { state: 'notified' });
      const credentialHash = randomBytes(32).toString('hex');
      const d = await makeDevice(store, customer.id, credentialHash);
      const other = await makeRequest(store, { state: 'notified' });

      assert.deepEqual(await store.devices.getByCredentialHashWithRequest(credentialHash, request.id), {
        device: await store.devices.get(d.id),
        request: await store.callRequests.get(request.id),
      });
      assert.deepEqual(await store.devices.getByCredentialHashWithRequest(credentialHash, other.request.id), { device: d, request: null });
      assert.deepEqual(await store.devices.getByCredentialHashWithRequest(credentialHash, uuid()), { device: d, request: null });
      assert.deepEqual(await store.devices.getByCredentialHashWithRequest(credentialHash, "x' OR 1=1 --"), { device: d, request: null });
      assert.equal(await store.devices.getByCredentialHashWithRequest(randomBytes(32).toString('hex'), request.id), null);

      const when = new Date('2030-04-04T04:04:04.000Z');
      await store.devices.revoke(d.id, when);
      assert.deepEqual((await store.devices.getByCredentialHashWithRequest(credentialHash, request.id))?.device.revokedAt, when);
    });
  });

  describe('enrollment codes', () => {
    it('gives the customer once, and nothing for an expired code', async () => {
      const c = await makeCustomer(store);
      const now = new Date();
      await store.enrollmentCodes.create(c.id, 'hash-live', minutes(10, now));
      await store.enrollmentCodes.create(c.id, 'hash-old', minutes(-1, now));
      assert.equal(await store.enrollmentCodes.consume('hash-live', now), c.id);
      assert.equal(await store.enrollmentCodes.consume('hash-live', now), null);
      assert.equal(await store.enrollmentCodes.consume('hash-old', now), null);
      assert.equal(await store.enrollmentCodes.consume('hash-none', now), null);
    });
  });

  describe('call requests', () => {
    it('creates, reads and lists a request with every field', async () => {
      const g = await makeGroup(store);
      const agent = await makeAgent(store, [g.id]);
      const customer = await makeCustomer(store);
      const input = newRequest(agent.id, customer.id, { groupId: g.id, idempotencyKey: `key-${tag()}` });
      const { request, created } = await store.callRequests.create(input);
      assert.equal(created, true);
      assert.equal(request.version, 1);
      const { idempotencyKey: _key, ...fields } = input;
      assert.deepEqual({ ...request, id: undefined, version: undefined, updatedAt: undefined }, {
        ...fields,
        id: undefined,
        version: undefined,
        updatedAt: undefined,
      });
      assert.deepEqual(await store.callRequests.get(request.id), request);
      assert.deepEqual((await store.callRequests.list({ agentId: agent.id })).map((r) => r.id), [request.id]);
      assert.deepEqual((await store.callRequests.list({ groupId: g.id, states: ['requested'] })).map((r) => r.id), [
        request.id,
      ]);
      assert.deepEqual(await store.callRequests.list({ customerId: customer.id, states: ['ended'] }), []);
    });

    it('moves through states with a version bump on each write', async () => {
      const { request, device } = await makeRequest(store);
      const notified = await store.callRequests.update(request.id, 1, { ...request, state: 'notified' });
      assert.equal(notified?.version, 2);
      const at = new Date('2030-04-04T12:00:00.000Z');
      const scheduled = await store.callRequests.update(request.id, 2, {
        ...notified!,
        state: 'scheduled',
        scheduledFor: at,
        scheduleNote: 'weekdays after 6',
        acceptedDeviceId: device.id,
      });
      assert.equal(scheduled?.state, 'scheduled');
      assert.deepEqual(scheduled?.scheduledFor, at);
      assert.equal(scheduled?.scheduleNote, 'weekdays after 6');
      assert.deepEqual(await store.callRequests.get(request.id), scheduled);
    });

    it('counts pending callbacks of a group in a time window', async () => {
      const g = await makeGroup(store);
      const slot = new Date('2031-05-05T10:00:00.000Z');
      for (const offset of [0, 10, 29, 30]) {
        const agent = await makeAgent(store, [g.id]);
        const customer = await makeCustomer(store);
        await store.callRequests.create(
          newRequest(agent.id, customer.id, { groupId: g.id, state: 'scheduled', scheduledFor: minutes(offset, slot) }),
        );
      }
      assert.equal(await store.callRequests.countScheduledBetween(g.id, slot, minutes(30, slot)), 3);
      assert.equal(await store.callRequests.countScheduledBetween(g.id, minutes(30, slot), minutes(60, slot)), 1);
      assert.equal(await store.callRequests.countScheduledBetween(null, slot, minutes(30, slot)), 0);
    });
  });

  describe('notifications', () => {
    it('records notifications and lists them oldest first', async () => {
      const { request, device } = await makeRequest(store);
      const first = await store.notifications.record({
        id: uuid(),
        callRequestId: request.id,
        kind: 'knock',
        replacesId: null,
        channel: 'webpush',
        deviceId: device.id,
        status: 'sent',
        error: null,
      });
      const second = await store.notifications.record({
        id: uuid(),
        callRequestId: request.id,
        kind: 'expired',
        replacesId: first.id,
        channel: 'sms',
        deviceId: null,
        status: 'failed',
        error: 'provider rejected the number',
      });
      assert.deepEqual(await store.notifications.listFor(request.id), [first, second]);
    });
  });

  describe('challenges', () => {
    it('creates a challenge and purges expired ones', async () => {
      const { device, request } = await makeRequest(store);
      const now = new Date();
      const live = await store.challenges.create({
        id: uuid(),
        deviceId: device.id,
        callRequestId: request.id,
        purpose: 'accept',
        value: randomBytes(32).toString('base64url'),
        expiresAt: minutes(2, now),
      });
      assert.equal(live.usedAt, null);
      await store.challenges.create({ ...live, id: uuid(), expiresAt: minutes(-5, now) });
      assert.equal(await store.challenges.purgeExpired(now), 1);
      assert.equal((await store.challenges.consume(live.id, device.id, now))?.id, live.id);
    });
  });

  describe('tokens', () => {
    it('records a token and reads it back', async () => {
      const { request, customer, device } = await makeRequest(store);
      const t = { jti: uuid(), callRequestId: request.id, customerId: customer.id, deviceId: device.id, expiresAt: minutes(2) };
      await store.tokens.record(t);
      assert.deepEqual(await store.tokens.get(t.jti), { ...t, consumedAt: null, dialogId: null });
      assert.equal(await store.tokens.get('nope'), null);
    });
  });

  describe('sessions', () => {
    it('creates, revokes once, and revokes stale sessions', async () => {
      const { request, customer, device } = await makeRequest(store);
      const authenticatedAt = new Date('2030-06-06T06:06:06.006Z');
      const s = await store.sessions.create({
        id: randomBytes(16).toString('base64url'),
        callRequestId: request.id,
        customerId: customer.id,
        deviceId: device.id,
        authMethod: 'biometric',
        authenticatedAt,
      });
      assert.equal(s.revokedAt, null);
      assert.deepEqual(await store.sessions.get(s.id), s);
      const now = new Date();
      assert.equal(await store.sessions.revoke(s.id, now), true);
      assert.equal(await store.sessions.revoke(s.id, now), false);
      assert.deepEqual((await store.sessions.get(s.id))?.revokedAt, now);

      const stale = await store.sessions.create({ ...s, id: randomBytes(16).toString('base64url') });
      assert.equal(await store.sessions.revokeStale(minutes(-60), now), 0);
      assert.ok((await store.sessions.revokeStale(minutes(1), now)) >= 1);
      assert.notEqual((await store.sessions.get(stale.id))?.revokedAt, null);
    });
  });

  describe('call records', () => {
    it('creates, patches and lists call records newest first', async () => {
      const { request, customer, agent } = await makeRequest(store);
      const started = new Date('2030-07-07T07:00:00.000Z');
      const first = await store.callRecords.create({
        callRequestId: request.id,
        sessionId: null,
        customerId: customer.id,
        agentId: agent.id,
        direction: 'inbound',
        startedAt: started,
        answeredAt: null,
        endedAt: null,
        outcome: null,
        verification: 'token:biometric',
      });
      const later = await store.callRecords.create({ ...first, startedAt: minutes(10, started), direction: 'outbound' });
      const answered = minutes(1, started);
      await store.callRecords.update(first.id, { answeredAt: answered, endedAt: minutes(5, started), outcome: 'completed' });
      const listed = await store.callRecords.list({ callRequestId: request.id });
      assert.deepEqual(listed.map((r) => r.id), [later.id, first.id]);
      assert.deepEqual(listed[1], {
        ...first,
        answeredAt: answered,
        endedAt: minutes(5, started),
        outcome: 'completed',
      });
      assert.equal((await store.callRecords.list({ agentId: agent.id, limit: 1 })).length, 1);
    });

    it('keeps each dialog\'s state for a BYE after drachtio-server forgot it, from setup to answer', async () => {
      const { request, customer } = await makeRequest(store);
      const state = (id: string, tag: string) => ({
        id,
        callId: `${tag}@10.0.0.1`,
        localUri: 'sip:agent@knock.example',
        localTag: `ours-${tag}`,
        remoteUri: 'sip:app-1@10.0.0.2:5060',
        remoteTag: `theirs-${tag}`,
        remoteTarget: 'sip:app@10.0.0.2:5060;transport=udp',
        routeSet: ['sip:edge.example;lr'],
      });
      const setUp = await store.callRecords.create({
        callRequestId: request.id, sessionId: null, customerId: customer.id, agentId: null, direction: 'inbound',
        startedAt: new Date(), answeredAt: null, endedAt: null, outcome: null, verification: null,
        sipDialogs: ['c1;from-tag=a'], sipDialogStates: [state('c1;from-tag=a', 'c1')],
      });
      // A ring's early dialog (a phone's 180) is added as it comes.
      await store.callRecords.addLegs(setUp.id, { sipInvites: ['txn-1'], sipDialogStates: [state('txn-1', 'r1')] });
      assert.deepEqual((await store.callRecords.findOpenByDialog('c1;from-tag=a'))?.sipDialogStates, [state('c1;from-tag=a', 'c1'), state('txn-1', 'r1')]);
      // Answered: the agent's dialog joins the customer's.
      const both = [state('c1;from-tag=a', 'c1'), state('c2;from-tag=b', 'c2')];
      await store.callRecords.update(setUp.id, { sipDialogs: ['c1;from-tag=a', 'c2;from-tag=b'], sipDialogStates: both });
      assert.deepEqual((await store.callRecords.list({ callRequestId: request.id }))[0]?.sipDialogStates, both);
    });
  });

  describe('api keys', () => {
    it('creates, finds by hash, lists and revokes', async () => {
      const name = `crm-${tag()}`;
      const hash = randomBytes(32).toString('hex');
      const k = await store.apiKeys.create(name, ['requests:write', 'customers:read'], hash);
      assert.deepEqual(k.scopes, ['requests:write', 'customers:read']);
      assert.deepEqual(await store.apiKeys.getByHash(hash), k);
      assert.ok((await store.apiKeys.list()).some((x) => x.id === k.id));
      await assert.rejects(store.apiKeys.create(name, [], randomBytes(32).toString('hex')), (e) => isAppError(e) && e.code === 'conflict');
      await store.apiKeys.revoke(k.id, new Date());
      assert.equal(await store.apiKeys.getByHash(hash), null);
      // The name is free again once revoked.
      await store.apiKeys.create(name, [], randomBytes(32).toString('hex'));
    });
  });

  describe('agent logins', () => {
    it('resolves a live login, not an expired or removed one', async () => {
      const a = await makeAgent(store);
      const now = new Date();
      await store.agentLogins.create('login-live', a.id, minutes(60, now));
      await store.agentLogins.create('login-old', a.id, minutes(-1, now));
      assert.equal(await store.agentLogins.getAgentId('login-live', now), a.id);
      assert.equal(await store.agentLogins.getAgentId('login-old', now), null);
      assert.equal(await store.agentLogins.purgeExpired(now), 1);
      await store.agentLogins.remove('login-live');
      assert.equal(await store.agentLogins.getAgentId('login-live', now), null);
    });
  });

  describe('signing keys', () => {
    it('lists newest first and retires', async () => {
      const older = { kid: `k-${tag()}`, privateJwk: { kty: 'EC', d: 'secret' }, publicJwk: { kty: 'EC' }, createdAt: new Date('2030-01-01T00:00:00Z') };
      const newer = { ...older, kid: `k-${tag()}`, createdAt: new Date('2030-02-01T00:00:00Z') };
      await store.signingKeys.insert(older);
      await store.signingKeys.insert(newer);
      const retiredAt = new Date('2030-02-01T00:05:00Z');
      await store.signingKeys.retire(older.kid, retiredAt);
      const keys = await store.signingKeys.list();
      assert.deepEqual(keys.slice(0, 2), [
        { ...newer, retiredAt: null },
        { ...older, retiredAt },
      ]);
    });
  });

  describe('settings', () => {
    it('keeps the first value stored', async () => {
      const key = `vapid-${tag()}`;
      assert.equal(await store.settings.get(key), null);
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((v) => store.settings.setIfAbsent(key, v)));
      assert.equal(new Set(results).size, 1, 'every caller sees the same stored value');
      assert.equal(await store.settings.get(key), results[0]);
    });
  });
});
