import assert from 'node:assert/strict';
import { calculateJwkThumbprint } from 'jose';
import { AppError } from '../../src/domain/errors.js';
import { importDevicePublicKey, jwkThumbprint, verifyDeviceSignature } from '../../src/security/device-key.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';

function validationError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === 'validation_failed' && pattern.test(e.message));
}

describe('security/device-key', () => {
  it('imports a P-256 public JWK and computes its RFC 7638 thumbprint', async () => {
    const device = new SoftDeviceKey();
    const key = importDevicePublicKey({ ...device.publicJwk, alg: 'ES256', use: 'sig', key_ops: ['verify'], ext: true });
    assert.deepEqual(key.jwk, device.publicJwk);
    assert.equal(key.thumbprint, await calculateJwkThumbprint(device.publicJwk, 'sha256'));
    assert.equal(jwkThumbprint(device.publicJwk), key.thumbprint);
    assert.match(key.thumbprint, /^[A-Za-z0-9_-]{43}$/);
  });

  it('gives different devices different thumbprints', () => {
    assert.notEqual(importDevicePublicKey(new SoftDeviceKey().publicJwk).thumbprint, importDevicePublicKey(new SoftDeviceKey().publicJwk).thumbprint);
  });

  it('refuses a JWK that carries the private key', () => {
    const device = new SoftDeviceKey();
    const priv = device.privateJwk();
    assert.ok('d' in priv);
    validationError(() => importDevicePublicKey(priv), /private/);
  });

  it('refuses other key types, curves and malformed coordinates', () => {
    const { publicJwk } = new SoftDeviceKey();
    validationError(() => importDevicePublicKey({ ...publicJwk, kty: 'RSA' }), /kty/);
    validationError(() => importDevicePublicKey({ ...publicJwk, crv: 'P-384' }), /P-256/);
    validationError(() => importDevicePublicKey({ ...publicJwk, alg: 'HS256' }), /ES256/);
    validationError(() => importDevicePublicKey({ ...publicJwk, use: 'enc' }), /signing/);
    validationError(() => importDevicePublicKey({ ...publicJwk, x: publicJwk.x.slice(0, 20) }), /32 bytes/);
    validationError(() => importDevicePublicKey({ ...publicJwk, y: 'not base64url!' }), /base64url/);
    validationError(() => importDevicePublicKey('{"kty":"EC"}'), /JWK object/);
    validationError(() => importDevicePublicKey(null), /JWK object/);
  });

  it('refuses a point that is not on the curve', () => {
    const { publicJwk } = new SoftDeviceKey();
    const y = Buffer.from(publicJwk.y, 'base64url');
    y[31] = y[31]! ^ 1;
    validationError(() => importDevicePublicKey({ ...publicJwk, y: y.toString('base64url') }), /not a valid P-256 point/);
  });

  it('verifies P1363 signatures made the WebCrypto way, and only those', () => {
    const device = new SoftDeviceKey();
    const other = new SoftDeviceKey();
    const key = importDevicePublicKey(device.publicJwk);
    const challenge = 'accept:3f1c2a:Zk1v7Q';
    const sig = device.sign(challenge);
    assert.equal(Buffer.from(sig, 'base64url').length, 64);

    assert.equal(verifyDeviceSignature(key, challenge, sig), true);
    assert.equal(verifyDeviceSignature(device.publicJwk, Buffer.from(challenge), sig), true, 'plain JWK accepted too');
    assert.equal(verifyDeviceSignature(key, challenge + 'x', sig), false, 'other data');
    assert.equal(verifyDeviceSignature(importDevicePublicKey(other.publicJwk), challenge, sig), false, 'other key');
    const flipped = Buffer.from(sig, 'base64url');
    flipped[10] = flipped[10]! ^ 0x01;
    assert.equal(verifyDeviceSignature(key, challenge, flipped.toString('base64url')), false, 'flipped byte');
    assert.equal(verifyDeviceSignature(key, challenge, sig.slice(0, 40)), false, 'truncated');
    assert.equal(verifyDeviceSignature(key, challenge, ''), false, 'empty');
    assert.equal(verifyDeviceSignature(key, challenge, '%%%'), false, 'not base64url');
  });

  it('refuses to verify with a private JWK', () => {
    const device = new SoftDeviceKey();
    validationError(() => verifyDeviceSignature(device.privateJwk(), 'x', device.sign('x')), /private/);
  });
});
