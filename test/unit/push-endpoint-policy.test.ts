/** Where Web Push messages may go: https to public hosts only, unless an origin is allowed. */
import assert from 'node:assert/strict';
import { endpointProblem, isSpecialAddress, normaliseOrigins, resolvedEndpointProblem } from '../../src/notify/push-endpoint-policy.js';

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

  it('accepts an allowed origin as it is, and only that origin', () => {
    const allowed = normaliseOrigins(['http://127.0.0.1:9000']);
    assert.equal(endpointProblem('http://127.0.0.1:9000/push/1', allowed), null);
    assert.match(endpointProblem('http://127.0.0.1:9001/push/1', allowed) ?? '', /https/);
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
    for (const a of ['127.0.0.1', '10.1.1.1', '192.168.1.1', '169.254.0.1', '::1', 'fc00::1', 'not an address']) assert.equal(isSpecialAddress(a), true, a);
  });
});
