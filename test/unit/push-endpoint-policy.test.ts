/** Where Web Push messages may go: https to public hosts only, unless an origin is allowed. */
import assert from 'node:assert/strict';
import { endpointProblem, isSpecialAddress, normaliseOrigins, resolvedEndpointProblem } from '../../src/security/push-endpoint-policy.js';

const none = normaliseOrigins([]);

describe('push endpoint policy', () => {
  it('accepts https endpoints of public push services', () => {
    for (const e of ['https://fcm.googleapis.com/fcm/send/abc', 'https://updates.push.services.mozilla.com/wpush/v2/x', 'https://8.8.8.8/x', 'https://[2606:4700::1111]/x']) {
      assert.equal(endpointProblem(e, none), null, e);
    }
  });

  it('refuses plain http, credentials, special-purpose literals and local names', () => {
    const refused: Record<string, RegExp> = {
      'http://fcm.googleapis.com/x': /https/,
      'https://user:pw@fcm.googleapis.com/x': /user name/,
      'https://127.0.0.1/x': /special/,
      'https://2130706433/x': /special/, // 127.0.0.1 written as one number
      'https://0x7f.1/x': /special/,
      'https://169.254.169.254/latest': /special/,
      'https://100.64.0.1/x': /special/,
      'https://172.16.5.4/x': /special/,
      'https://224.0.0.1/x': /special/,
      'https://255.255.255.255/x': /special/,
      'https://[::]/x': /special/,
      'https://[::ffff:10.0.0.1]/x': /special/,
      'https://[fd00::1]/x': /special/,
      'https://[fe80::1]/x': /special/,
      'https://[64:ff9b::7f00:1]/x': /special/,
      'https://push.localhost/x': /special/,
      'https://intranet/x': /public host/,
      'ftp://example.com/x': /https/,
      '/relative': /not a URL/,
    };
    for (const [e, why] of Object.entries(refused)) assert.match(endpointProblem(e, none) ?? 'accepted', why, e);
  });

  it('refuses IPv6 literals outside global unicast, and IPv4 addresses embedded in IPv6', () => {
    for (const e of [
      'https://[::127.0.0.1]/x', // IPv4-compatible (::/96)
      'https://[::7f00:1]/x',
      'https://[::10.0.0.1]/x',
      'https://[::169.254.169.254]/x',
      'https://[::a9fe:a9fe]/x',
      'https://[::2]/x', // reserved ::/8
      'https://[::ffff:0:7f00:1]/x', // IPv4-translated
      'https://[::ffff:8.8.8.8]/x', // IPv4-mapped, even of a public address
      'https://[3fff::1]/x', // documentation (RFC 9637)
      'https://[5f00::1]/x', // SRv6 SIDs (RFC 9602)
      'https://[2001::1]/x', // Teredo
      'https://[2001:20::1]/x', // ORCHIDv2
      'https://[2002:7f00:1::]/x', // 6to4 of 127.0.0.1
      'https://[4000::1]/x', // unassigned
      'https://[64:ff9b:1::7f00:1]/x',
    ]) assert.match(endpointProblem(e, none) ?? 'accepted', /special/, e);
  });

  it('accepts an allowed origin as it is, and only that origin', () => {
    const allowed = normaliseOrigins(['http://127.0.0.1:9000']);
    assert.equal(endpointProblem('http://127.0.0.1:9000/push/1', allowed), null);
    assert.match(endpointProblem('http://127.0.0.1:9001/push/1', allowed) ?? '', /https/);
  });

  it('refuses a user name or password even on an allowed origin', () => {
    const allowed = normaliseOrigins(['http://127.0.0.1:18999']);
    assert.match(endpointProblem('http://user@127.0.0.1:18999/x', allowed) ?? 'accepted', /user name/);
    assert.match(endpointProblem('http://:pw@127.0.0.1:18999/x', allowed) ?? 'accepted', /user name/);
  });

  it('refuses a name that resolves to a special address, even once among public ones', async () => {
    const resolver = (answers: string[]) => async () => answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    assert.equal(await resolvedEndpointProblem('https://push.example.com/x', none, resolver(['93.184.216.34'])), null);
    assert.match((await resolvedEndpointProblem('https://push.example.com/x', none, resolver(['93.184.216.34', '10.0.0.7']))) ?? '', /special/);
    assert.match((await resolvedEndpointProblem('https://push.example.com/x', none, resolver(['::1']))) ?? '', /special/);
    const failing = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    assert.match((await resolvedEndpointProblem('https://nowhere.example/x', none, failing)) ?? '', /does not resolve/);
  });

  it('classifies addresses', () => {
    assert.equal(isSpecialAddress('1.1.1.1'), false);
    assert.equal(isSpecialAddress('2001:4860:4860::8888'), false);
    assert.equal(isSpecialAddress('2620:fe::fe'), false);
    for (const a of ['127.0.0.1', '10.1.1.1', '192.168.1.1', '169.254.0.1', '::1', 'fc00::1', 'not an address']) assert.equal(isSpecialAddress(a), true, a);
    // What a resolver may answer at send time: IPv4 in IPv6 forms, scoped and non-global IPv6.
    for (const a of ['::7f00:1', '::127.0.0.1', '::ffff:127.0.0.1', '::ffff:0:a00:1', '3fff::1', '5f00::1', 'fe80::1%eth0', '2001:db8::1', '2002:a00:1::1']) assert.equal(isSpecialAddress(a), true, a);
  });

  it('refuses at registration a name that resolves to an IPv4-compatible or documentation IPv6 address', async () => {
    for (const address of ['::a9fe:a9fe', '3fff::10']) {
      const resolve = async () => [{ address, family: 6 }];
      assert.match((await resolvedEndpointProblem('https://push.example.com/x', none, resolve)) ?? 'accepted', /special/, address);
    }
  });
});
