import assert from 'node:assert/strict';
import { constantTimeEqual, randomSecret, sha256Hex } from '../../src/security/secrets.js';

describe('security/secrets', () => {
  it('makes URL-safe random secrets of the asked strength, never the same twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = randomSecret();
      assert.match(s, /^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url without padding
      seen.add(s);
    }
    assert.equal(seen.size, 200);
    assert.equal(Buffer.from(randomSecret(16), 'base64url').length, 16);
  });

  it('refuses to make a secret weaker than 128 bits', () => {
    assert.throws(() => randomSecret(8), RangeError);
  });

  it('hashes to the standard SHA-256 hex digest', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256Hex(Buffer.from('abc')), sha256Hex('abc'));
  });

  it('compares secrets: equal only when identical, whatever the lengths', () => {
    assert.equal(constantTimeEqual('s3cret-value', 's3cret-value'), true);
    assert.equal(constantTimeEqual('s3cret-value', 's3cret-valuf'), false);
    assert.equal(constantTimeEqual('s3cret-value', 's3cret-value-longer'), false);
    assert.equal(constantTimeEqual('s3cret', ''), false);
    assert.equal(constantTimeEqual('', ''), true);
    assert.equal(constantTimeEqual(Buffer.from('abc'), 'abc'), true);
  });
});
