import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hashPassword, needsRehash, sipHa1, sipHa1Sha256, verifyPassword } from '../../src/security/passwords.js';

// Cheap parameters keep the suite fast; one test uses the defaults.
const FAST = { N: 2 ** 10, r: 8, p: 1 };

describe('security/passwords', () => {
  it('hashes with the default scrypt parameters and verifies the same password only', async () => {
    const stored = await hashPassword('correct horse battery staple');
    assert.match(stored, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    assert.equal(await verifyPassword('correct horse battery staple', stored), true);
    assert.equal(await verifyPassword('correct horse battery stapler', stored), false);
  });

  it('salts every hash, so equal passwords do not give equal hashes', async () => {
    const a = await hashPassword('same', FAST);
    const b = await hashPassword('same', FAST);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('same', a), true);
    assert.equal(await verifyPassword('same', b), true);
  });

  it('treats composed and decomposed accents as the same password', async () => {
    const stored = await hashPassword('caf\u00e9', FAST);
    assert.equal(await verifyPassword('cafe\u0301', stored), true);
  });

  it('never matches a damaged or foreign stored value', async () => {
    const good = await hashPassword('pw', FAST);
    for (const bad of ['', 'pw', 'bcrypt$2b$10$abc', good.replace('scrypt$1024', 'scrypt$1000'), good.split('$').slice(0, 5).join('$'), 'scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'scrypt$1048576$32$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      assert.equal(await verifyPassword('pw', bad), false, bad);
    }
  });

  it('says when a stored hash is weaker than the current parameters', async () => {
    const weak = await hashPassword('pw', FAST);
    assert.equal(needsRehash(weak), true);
    assert.equal(needsRehash(weak, FAST), false);
    assert.equal(needsRehash('garbage'), true);
  });

  it('computes SIP HA1 as in RFC 2617 §3.5', () => {
    assert.equal(sipHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life'), '939e7578ed9e3c518a452acee763bce9');
  });

  it('gives HA1 values that reproduce the RFC 7616 §3.9.1 digest responses (MD5 and SHA-256)', () => {
    const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
    const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
    const response = (alg: string, ha1: string) => {
      const h = (s: string) => createHash(alg).update(s).digest('hex');
      return h([ha1, nonce, '00000001', cnonce, 'auth', h('GET:/dir/index.html')].join(':'));
    };
    assert.equal(response('md5', sipHa1('Mufasa', 'http-auth@example.org', 'Circle of Life')), '8ca523f5e9506fed4657c9700eebdbec');
    assert.equal(
      response('sha256', sipHa1Sha256('Mufasa', 'http-auth@example.org', 'Circle of Life')),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });
});
