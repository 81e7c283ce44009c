import assert from 'node:assert/strict';
import { createDigestAuth, digestHa1, digestResponse, parseDigestParams, type DigestAlgorithm } from '../../src/sip/digest-auth.js';

describe('SIP digest authentication (RFC 7616 / 8760)', () => {
  it('computes the RFC 7616 §3.9.1 example responses for MD5 and SHA-256', () => {
    const common = {
      method: 'GET',
      uri: '/dir/index.html',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      qop: 'auth' as const,
      nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    };
    const md5 = digestHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    const sha = digestHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(digestResponse({ ...common, algorithm: 'MD5', ha1: md5 }), '8ca523f5e9506fed4657c9700eebdbec');
    assert.equal(digestResponse({ ...common, algorithm: 'SHA-256', ha1: sha }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('parses quoted values with commas and escapes', () => {
    assert.deepEqual(parseDigestParams('Digest username="a\\"b", realm="x, y",nc=00000001, qop=auth'), {
      username: 'a"b',
      realm: 'x, y',
      nc: '00000001',
      qop: 'auth',
    });
    assert.equal(parseDigestParams('Bearer abc'), null);
  });

  describe('challenge and verify', () => {
    let now = new Date('2026-01-01T10:00:00Z');
    const realm = 'knock.localhost';
    const password = 'desk-phone-secret';
    const auth = createDigestAuth({ realm, key: Buffer.alloc(32, 7), nonceSeconds: 300, algorithms: ['SHA-256', 'MD5'], clock: () => now });
    const lookupHa1 = async (user: string, alg: DigestAlgorithm) => (user === '1001' ? digestHa1(alg, '1001', realm, password) : null);

    function answer(challenge: string, opts: { algorithm: DigestAlgorithm; password?: string; user?: string; uri?: string; nc?: string }) {
      const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
      const uri = opts.uri ?? 'sip:knock.localhost';
      const user = opts.user ?? '1001';
      const ha1 = digestHa1(opts.algorithm, user, realm, opts.password ?? password);
      const nc = opts.nc ?? '00000001';
      const response = digestResponse({ algorithm: opts.algorithm, ha1, method: 'REGISTER', uri, nonce, qop: 'auth', nc, cnonce: 'c0ffee' });
      return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${opts.algorithm}, qop=auth, nc=${nc}, cnonce="c0ffee"`;
    }
    const verify = (authorization: string[]) => auth.verify({ authorization, method: 'REGISTER', requestUri: 'sip:knock.localhost', lookupHa1 });

    it('offers one challenge per algorithm, preferred first, each asking for qop=auth', () => {
      const c = auth.challenge();
      assert.equal(c.length, 2);
      assert.match(c[0]!, /^Digest realm="knock\.localhost", nonce="[^"]+", algorithm=SHA-256, qop="auth"$/);
      assert.match(c[1]!, /algorithm=MD5/);
      assert.match(auth.challenge({ stale: true })[0]!, /stale=true/);
    });

    it('accepts the right password with either algorithm, and tells apart wrong passwords and unknown users', async () => {
      const [sha, md5] = auth.challenge();
      assert.deepEqual(await verify([answer(sha!, { algorithm: 'SHA-256' })]), { kind: 'ok', username: '1001', algorithm: 'SHA-256' });
      assert.deepEqual(await verify([answer(md5!, { algorithm: 'MD5' })]), { kind: 'ok', username: '1001', algorithm: 'MD5' });
      assert.equal((await verify([answer(md5!, { algorithm: 'MD5', password: 'guess', nc: '00000002' })])).kind, 'wrong_password');
      assert.equal((await verify([answer(md5!, { algorithm: 'MD5', user: '7777' })])).kind, 'unknown_user');
      assert.equal((await verify([])).kind, 'missing');
    });

    it('answers a replayed nonce count and an expired nonce with stale, and a forged nonce too', async () => {
      const [, md5] = auth.challenge();
      const creds = answer(md5!, { algorithm: 'MD5' });
      assert.equal((await verify([creds])).kind, 'ok');
      assert.equal((await verify([creds])).kind, 'stale'); // same nc again: replay
      assert.equal((await verify([answer(md5!, { algorithm: 'MD5', nc: '00000002' })])).kind, 'ok');
      now = new Date(now.getTime() + 301_000);
      assert.equal((await verify([answer(md5!, { algorithm: 'MD5', nc: '00000003' })])).kind, 'stale');
      const forged = creds.replace(/nonce="[^"]+"/, 'nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"');
      assert.equal((await verify([forged])).kind, 'stale');
    });

    it('refuses credentials for another Request-URI or an algorithm not offered', async () => {
      const only = createDigestAuth({ realm, key: Buffer.alloc(32, 7), nonceSeconds: 300, algorithms: ['SHA-256'], clock: () => now });
      const [sha] = only.challenge();
      const md5Answer = answer(sha!, { algorithm: 'MD5' });
      const r = await only.verify({ authorization: [md5Answer], method: 'REGISTER', requestUri: 'sip:knock.localhost', lookupHa1 });
      assert.equal(r.kind, 'malformed');
      const elsewhere = await verify([answer(auth.challenge()[0]!, { algorithm: 'SHA-256', uri: 'sip:other.example' })]);
      assert.equal(elsewhere.kind, 'malformed');
    });

    it('offers SHA-256 to one extension while the deployment offers MD5 alone, and holds each user to what it was offered', async () => {
      const md5Only = createDigestAuth({ realm, key: Buffer.alloc(32, 7), nonceSeconds: 300, algorithms: ['MD5'], clock: () => now });
      const algorithmsFor = (user: string): DigestAlgorithm[] => (user === '1001' ? ['SHA-256', 'MD5'] : ['MD5']);
      const lookup = async (user: string, alg: DigestAlgorithm) => (user === '1001' || user === '1002' ? digestHa1(alg, user, realm, password) : null);
      assert.deepEqual(md5Only.challenge().map((c) => /algorithm=([\w-]+)/.exec(c)![1]), ['MD5']);
      const [sha] = md5Only.challenge({ algorithms: algorithmsFor('1001') });
      assert.match(sha!, /algorithm=SHA-256/);
      const check = (authorization: string) => md5Only.verify({ authorization: [authorization], method: 'REGISTER', requestUri: 'sip:knock.localhost', lookupHa1: lookup, algorithmsFor });
      assert.deepEqual(await check(answer(sha!, { algorithm: 'SHA-256' })), { kind: 'ok', username: '1001', algorithm: 'SHA-256' });
      assert.equal((await check(answer(sha!, { algorithm: 'SHA-256', user: '1002', nc: '00000002' }))).kind, 'malformed', 'SHA-256 was not offered to 1002');
    });
  });
});
