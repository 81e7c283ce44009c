/**
 * The From of a request sent over a phone's reused connection: a "localhost" host gets
 * drachtio-server's own address for that transport (drachtio-server fails to do it there).
 */
import assert from 'node:assert/strict';
import Srf from 'drachtio-srf';
import { fromForConnection, rememberDrachtioAddresses, transportOf } from '../../src/sip/drachtio-addresses.js';

describe('From over a reused connection', () => {
  const srf = new Srf();
  rememberDrachtioAddresses(srf, 'tcp/10.0.0.5:5060,udp/10.0.0.5:5062');

  it('puts drachtio-server’s address of the transport in place of a localhost host, keeping name, user and parameters', () => {
    assert.equal(fromForConnection(srf, '"Chris" <sip:+447700900123@knock.localhost>;tag=x', 'tcp'), '"Chris" <sip:+447700900123@10.0.0.5:5060>;tag=x');
    assert.equal(fromForConnection(srf, 'sip:1001@knock.localhost;tag=y', 'tcp'), 'sip:1001@10.0.0.5:5060;tag=y');
  });

  it('leaves UDP, other domains and unknown servers alone; drops a display name saying localhost', () => {
    assert.equal(fromForConnection(srf, '"Chris" <sip:1@knock.localhost>', 'udp'), '"Chris" <sip:1@knock.localhost>');
    assert.equal(fromForConnection(srf, '"Chris" <sip:1@pbx.example>', 'tcp'), '"Chris" <sip:1@pbx.example>');
    assert.equal(fromForConnection(new Srf(), '"Chris" <sip:1@knock.localhost>', 'tcp'), '"Chris" <sip:1@knock.localhost>');
    assert.equal(fromForConnection(srf, '"localhost fan" <sip:1@knock.localhost>', 'tcp'), '<sip:1@10.0.0.5:5060>');
  });

  it('reads the transport of a next hop', () => {
    assert.equal(transportOf('sip:127.0.0.1:4000;transport=TCP'), 'tcp');
    assert.equal(transportOf('sips:1001@pbx.example'), 'tls');
    assert.equal(transportOf('sip:1001@pbx.example'), 'udp');
  });
});
