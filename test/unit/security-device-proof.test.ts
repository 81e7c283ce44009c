import assert from 'node:assert/strict';
import { AppError } from '../../src/domain/errors.js';
import { jwkThumbprint } from '../../src/security/device-key.js';
import { deviceProofInput, verifyDeviceProof, type VerifyDeviceProofInput } from '../../src/security/device-proof.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';

function misbound(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === 'token_misbound' && pattern.test(e.message));
}

describe('security/device-proof', () => {
  const phone = new SoftDeviceKey();
  const binding = { jti: 'Zm9vYmFyYmF6cXV4MTIzNA', callId: 'a84b4c76e66710@pc33.example.com', fromTag: '1928301774' };
  const input = (over: Partial<VerifyDeviceProofInput> = {}): VerifyDeviceProofInput => ({
    ...binding,
    proof: phone.sign(deviceProofInput(binding)),
    expectedThumbprint: jwkThumbprint(phone.publicJwk),
    device: { publicKeyJwk: { ...phone.publicJwk }, revokedAt: null },
    ...over,
  });

  it('signs one fixed, prefixed string per call', () => {
    assert.equal(deviceProofInput(binding), 'knock-call-proof.v1|Zm9vYmFyYmF6cXV4MTIzNA|a84b4c76e66710@pc33.example.com|1928301774');
  });

  it("accepts the enrolled device's signature over this call", () => {
    assert.doesNotThrow(() => verifyDeviceProof(input()));
  });

  it('requires a proof', () => {
    misbound(() => verifyDeviceProof(input({ proof: null })), /device proof required/);
    misbound(() => verifyDeviceProof(input({ proof: '  ' })), /device proof required/);
  });

  it('refuses a proof by another device key', () => {
    const other = new SoftDeviceKey();
    misbound(() => verifyDeviceProof(input({ proof: other.sign(deviceProofInput(binding)) })), /does not verify/);
  });

  it('refuses a proof made for another call or another token', () => {
    misbound(() => verifyDeviceProof(input({ callId: 'other@pc33.example.com' })), /does not verify/);
    misbound(() => verifyDeviceProof(input({ fromTag: '999' })), /does not verify/);
    misbound(() => verifyDeviceProof(input({ jti: 'b3RoZXJ0b2tlbmp0aTEyMzQ' })), /does not verify/);
  });

  it('refuses when the stored key is not the one the token names, or the device is gone', () => {
    misbound(() => verifyDeviceProof(input({ expectedThumbprint: jwkThumbprint(new SoftDeviceKey().publicJwk) })), /different device key/);
    misbound(() => verifyDeviceProof(input({ device: null })), /no longer enrolled/);
    misbound(() => verifyDeviceProof(input({ device: { publicKeyJwk: { ...phone.publicJwk }, revokedAt: new Date() } })), /no longer enrolled/);
  });

  it('treats a malformed proof as not verifying', () => {
    misbound(() => verifyDeviceProof(input({ proof: 'not base64url!' })), /does not verify/);
    misbound(() => verifyDeviceProof(input({ proof: 'AAAA' })), /does not verify/);
  });
});
