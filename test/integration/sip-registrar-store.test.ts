import assert from 'node:assert/strict';
import { tag, useTestStore } from './store-fixtures.js';

const seconds = (n: number, from: Date) => new Date(from.getTime() + n * 1000);

describe('store: registrations (location service) and customers by phone', () => {
  const store = useTestStore();

  const binding = (extension: string, contact: string, expiresAt: Date, cseq = 1, callId = 'call-1') => ({
    extension,
    contact,
    source: 'udp/127.0.0.1:5070',
    callId,
    cseq,
    userAgent: 'Yealink T54W',
    expiresAt,
  });

  it('keeps several contacts per extension, newest first, and hides expired ones', async () => {
    const ext = `7${parseInt(tag(), 16) % 100000}`;
    const now = new Date();
    await store.registrations.upsert(binding(ext, 'sip:a@127.0.0.1:5070', seconds(60, now)), now);
    await store.registrations.upsert(binding(ext, 'sip:b@127.0.0.1:5072', seconds(60, now), 1, 'call-2'), seconds(1, now));
    const list = await store.registrations.list(ext, now);
    assert.deepEqual(
      list.map((r) => r.contact),
      ['sip:b@127.0.0.1:5072', 'sip:a@127.0.0.1:5070'],
    );
    assert.equal(list[0]!.userAgent, 'Yealink T54W');
    assert.equal(list[0]!.cseq, 1);
    assert.ok((await store.registrations.registeredExtensions(now)).includes(ext));
    // Seen from after both bindings ran out, nothing is registered.
    const later = seconds(61, now);
    assert.deepEqual(await store.registrations.list(ext, later), []);
    assert.ok(!(await store.registrations.registeredExtensions(later)).includes(ext));
  });

  it('a refresh moves the expiry; a stale retransmission does not undo it', async () => {
    const ext = `7${parseInt(tag(), 16) % 100000}`;
    const now = new Date();
    await store.registrations.upsert(binding(ext, 'sip:a@127.0.0.1:5070', seconds(60, now), 5), now);
    await store.registrations.upsert(binding(ext, 'sip:a@127.0.0.1:5070', seconds(600, now), 6), now);
    await store.registrations.upsert(binding(ext, 'sip:a@127.0.0.1:5070', seconds(30, now), 4), now);
    const [only] = await store.registrations.list(ext, now);
    assert.equal(only!.cseq, 6);
    assert.equal(only!.expiresAt.getTime(), seconds(600, now).getTime());
  });

  it('finds customers by their exact E.164 number (for *88 from a desk phone)', async () => {
    const phone = `+4477009${String(parseInt(tag(), 16) % 100000).padStart(5, '0')}`;
    const first = await store.customers.create({ name: 'Chris Customer', phoneE164: phone, timeZone: 'Europe/London', externalRef: null });
    assert.deepEqual((await store.customers.getByPhone(phone)).map((c) => c.id), [first.id]);
    const second = await store.customers.create({ name: 'Chris Senior', phoneE164: phone, timeZone: 'Europe/London', externalRef: null });
    assert.deepEqual((await store.customers.getByPhone(phone)).map((c) => c.id), [first.id, second.id]);
    assert.deepEqual(await store.customers.getByPhone(phone.slice(0, -1)), []);
  });

  it('removes one binding, all bindings, and purges expired ones', async () => {
    const ext = `7${parseInt(tag(), 16) % 100000}`;
    const now = new Date();
    await store.registrations.upsert(binding(ext, 'sip:a@127.0.0.1:5070', seconds(60, now)), now);
    await store.registrations.upsert(binding(ext, 'sip:b@127.0.0.1:5072', seconds(60, now)), now);
    await store.registrations.upsert(binding(ext, 'sip:c@127.0.0.1:5074', seconds(60, now)), now);
    assert.equal(await store.registrations.remove(ext, 'sip:a@127.0.0.1:5070'), true);
    assert.equal(await store.registrations.remove(ext, 'sip:a@127.0.0.1:5070'), false);
    assert.equal(await store.registrations.removeAll(ext), 2);
    assert.deepEqual(await store.registrations.list(ext, now), []);

    await store.registrations.upsert(binding(ext, 'sip:old@127.0.0.1:5076', seconds(-1, now)), now);
    await store.registrations.upsert(binding(ext, 'sip:new@127.0.0.1:5078', seconds(60, now)), now);
    assert.ok((await store.registrations.purgeExpired(now)) >= 1);
    assert.equal(await store.registrations.remove(ext, 'sip:old@127.0.0.1:5076'), false);
    assert.equal((await store.registrations.list(ext, now)).length, 1);
  });
});
