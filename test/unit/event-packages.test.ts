/**
 * What a desk phone's subscriptions report (src/domain/event-packages.ts): the expiry granted,
 * the state each package shows for an agent's line, and bodies that stay well-formed whatever
 * the extension holds.
 */
import assert from 'node:assert/strict';
import { grantedExpiry, lineStateOf, notifyContent, reportedState } from '../../src/domain/event-packages.js';

describe('SIP event packages', () => {
  const bounds = { minExpires: 60, maxExpires: 3600, defaultExpires: 3600 };

  it('grants the asked expiry within bounds: none asked → default, too long → max, too brief → null (423), 0 → 0', () => {
    assert.equal(grantedExpiry(null, bounds), 3600);
    assert.equal(grantedExpiry(600, bounds), 600);
    assert.equal(grantedExpiry(86_400, bounds), 3600);
    assert.equal(grantedExpiry(30, bounds), null);
    assert.equal(grantedExpiry(0, bounds), 0);
  });

  it('shows a busy lamp for a call ringing (early) or up (confirmed), and none for free, away or offline agents', () => {
    assert.equal(reportedState('dialog', lineStateOf('busy', true)), 'early');
    assert.equal(reportedState('dialog', lineStateOf('busy', false)), 'confirmed');
    for (const a of ['available', 'away', 'offline'] as const) assert.equal(reportedState('dialog', lineStateOf(a, false)), 'terminated');
    assert.equal(reportedState('presence', lineStateOf('busy', true)), 'on-the-phone');
    assert.equal(reportedState('presence', lineStateOf('away', false)), 'away');
  });

  it('writes dialog-info and PIDF documents with the version given and markup in values escaped', () => {
    const d = notifyContent('dialog', { entity: 'sip:10<01@x', extension: '10<01', version: 7, state: 'early' });
    assert.equal(d.contentType, 'application/dialog-info+xml');
    assert.match(d.body, /version="7" state="full" entity="sip:10&lt;01@x"/);
    assert.match(d.body, /<dialog id="10&lt;01" direction="recipient">/);
    const p = notifyContent('presence', { entity: 'sip:1001@x', extension: '1001', version: 1, state: 'offline' });
    assert.match(p.body, /<basic>closed<\/basic>/);
    assert.match(p.body, /<dm:note>Offline<\/dm:note>/);
    assert.equal(notifyContent('message-summary', { entity: 'sip:1001@x', extension: '1001', version: 1, state: 'no-messages' }).body, 'Messages-Waiting: no\r\nMessage-Account: sip:1001@x\r\n');
  });
});
