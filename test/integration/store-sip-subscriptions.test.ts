/**
 * Desk phones' subscriptions in PostgreSQL (migration 011), as several instances share them: a
 * change reported by two at once is sent once, each NOTIFY gets the next version, and an expired
 * subscription is ended by one sweeper only.
 */
import assert from 'node:assert/strict';
import { tag, useTestStore } from './store-fixtures.js';

const seconds = (n: number, from = new Date()) => new Date(from.getTime() + n * 1000);

describe('SIP subscriptions in the store', () => {
  const store = useTestStore();
  const subscribe = async (event: 'dialog' | 'presence', target: string) => {
    const dialogId = `call-${tag()};from-tag=${tag()}`;
    await store.sipSubscriptions.create({ dialogId, event, subscriber: '1002', target, entity: `sip:${target}@example.test`, expiresAt: seconds(600) }, new Date());
    return dialogId;
  };

  it('moves each subscription to a new state once, whoever reports it, with the next version', async () => {
    const target = `ext-${tag()}`;
    const dialog = await subscribe('dialog', target);
    const presence = await subscribe('presence', target);
    const states = { dialog: 'confirmed', presence: 'on-the-phone' };
    // Two instances see the same change at once: each row is handed to one of them.
    const [a, b] = await Promise.all([store.sipSubscriptions.report(target, states, new Date()), store.sipSubscriptions.report(target, states, new Date())]);
    const told = [...a, ...b];
    assert.deepEqual(told.map((s) => s.dialogId).sort(), [dialog, presence].sort());
    assert.ok(told.every((s) => s.version === 1));
    assert.deepEqual(await store.sipSubscriptions.report(target, states, new Date()), [], 'nothing new to tell');
    // Only the package whose state changes is told.
    const [next] = await store.sipSubscriptions.report(target, { dialog: 'terminated', presence: 'on-the-phone' }, new Date());
    assert.equal(next!.dialogId, dialog);
    assert.equal(next!.version, 2);
    assert.equal(next!.reported, 'terminated');
  });

  it('hands an expired subscription to one sweeper; unexpired ones stay', async () => {
    const target = `ext-${tag()}`;
    const dialogId = await subscribe('dialog', target);
    const kept = await subscribe('presence', target);
    await store.sipSubscriptions.refresh(kept, seconds(7200), new Date());
    const later = seconds(3600);
    const [a, b] = await Promise.all([store.sipSubscriptions.takeExpired(later, 100), store.sipSubscriptions.takeExpired(later, 100)]);
    const mine = [...a, ...b].filter((s) => s.target === target);
    assert.deepEqual(mine.map((s) => s.dialogId), [dialogId]);
    assert.equal(await store.sipSubscriptions.get(dialogId, new Date()), null);
    assert.equal((await store.sipSubscriptions.get(kept, later))?.event, 'presence');
  });
});
