/** Which Contact the app may register: over WebSocket only a `.invalid` host (RFC 7118 §5). */
import assert from 'node:assert/strict';
import { appContactRefusal } from '../../src/sip/app-registrar.js';
import { routeToApp } from '../../src/calls/app-callback-ring.js';

describe('app registration Contact rule', () => {
  it('accepts the `.invalid` Contact sip.js sends over WebSocket', () => {
    assert.equal(appContactRefusal('sip:k3j2h1@df7jal23ls0d.invalid;transport=ws', 'wss/203.0.113.5:51234'), null);
    assert.equal(appContactRefusal('sip:k3j2h1@DF7JAL23LS0D.INVALID;transport=ws', 'ws/203.0.113.5:51234'), null);
  });

  it('refuses a WebSocket Contact naming a real host, which the server would send INVITEs to', () => {
    for (const contact of ['sip:x@victim.example', 'sip:x@192.0.2.7:5060;transport=tcp', 'sip:x@invalid.example.com', 'sip:x@[2001:db8::1]']) {
      assert.match(appContactRefusal(contact, 'wss/203.0.113.5:51234') ?? '', /\.invalid/, contact);
    }
    assert.match(appContactRefusal('tel:+447700900123', 'wss/203.0.113.5:51234') ?? '', /not a SIP URI/);
  });

  it('leaves UDP/TCP Contacts alone: those bindings are reached via the REGISTER source', () => {
    assert.equal(appContactRefusal('sip:app@victim.example:5060', 'udp/198.51.100.9:5062'), null);
    const route = routeToApp({ deviceId: 'd1', contact: 'sip:app@victim.example:5060', source: 'udp/198.51.100.9:5062', expiresAt: new Date() } as Parameters<typeof routeToApp>[0]);
    assert.equal(route.proxy, 'sip:198.51.100.9:5062;transport=udp');
  });
});
