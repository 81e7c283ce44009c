import assert from 'node:assert/strict';
import { AppError } from '../../src/domain/errors.js';
import type { WebAuthnCredential } from '../../src/domain/model.js';
import { randomSecret } from '../../src/security/secrets.js';
import {
  verifyWebAuthnAssertion,
  verifyWebAuthnRegistration,
  webAuthnAuthenticationOptions,
  webAuthnRegistrationOptions,
  type WebAuthnConfig,
} from '../../src/security/webauthn.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

const config: WebAuthnConfig = { rpId: 'localhost', rpName: 'Knock', origins: ['http://localhost:8080'] };
const origin = 'http://localhost:8080';

async function refusedWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AppError, String(e));
    assert.equal(e.code, 'auth_failed');
    assert.match(e.message, pattern);
    return true;
  });
}

async function enrol(auth: SoftAuthenticator): Promise<WebAuthnCredential> {
  const challenge = randomSecret();
  const options = await webAuthnRegistrationOptions({
    config,
    deviceId: '6f1b3a52-4f5c-4c1e-9a57-2f1f0c9e8d11',
    userName: 'ada@example.com',
    userDisplayName: 'Ada (phone)',
    challenge,
  });
  return verifyWebAuthnRegistration({ config, response: auth.register(options), expectedChallenge: challenge });
}

describe('security/webauthn', () => {
  it('asks for a platform authenticator with user verification, using our challenge as is', async () => {
    const challenge = randomSecret();
    const reg = await webAuthnRegistrationOptions({ config, deviceId: 'dev-1', userName: 'u', userDisplayName: 'U', challenge });
    assert.equal(reg.challenge, challenge);
    assert.equal(reg.rp.id, 'localhost');
    assert.equal(reg.authenticatorSelection?.authenticatorAttachment, 'platform');
    assert.equal(reg.authenticatorSelection?.userVerification, 'required');
    assert.equal(reg.authenticatorSelection?.residentKey, 'preferred');
    assert.equal(reg.attestation, 'none');
    assert.equal(Buffer.from(reg.user.id, 'base64url').toString(), 'dev-1');

    const cred: WebAuthnCredential = { credentialId: 'AAAA', publicKey: 'AAAA', counter: 0, transports: ['internal'] };
    const get = await webAuthnAuthenticationOptions({ config, credential: cred, challenge });
    assert.equal(get.challenge, challenge);
    assert.equal(get.userVerification, 'required');
    assert.deepEqual(get.allowCredentials?.map((c) => c.id), ['AAAA']);
  });

  it('enrols a soft authenticator and then accepts its biometric assertions', async () => {
    const auth = new SoftAuthenticator({ rpId: 'localhost', origin });
    const credential = await enrol(auth);
    assert.equal(credential.credentialId, auth.credentialIdB64u);
    assert.equal(credential.counter, 0);
    assert.deepEqual(credential.transports, ['internal']);

    const challenge = randomSecret();
    const options = await webAuthnAuthenticationOptions({ config, credential, challenge });
    const result = await verifyWebAuthnAssertion({ credential, response: auth.assert(options), expectedChallenge: challenge, rpId: config.rpId, origins: config.origins });
    assert.deepEqual(result, { newCounter: 1, userVerified: true });

    const next = randomSecret();
    const again = await verifyWebAuthnAssertion({
      credential: { ...credential, counter: result.newCounter },
      response: auth.assert({ challenge: next }),
      expectedChallenge: next,
      rpId: config.rpId,
      origins: config.origins,
    });
    assert.equal(again.newCounter, 2);
  });

  it('refuses an enrolment without user verification or for another challenge', async () => {
    const auth = new SoftAuthenticator({ rpId: 'localhost', origin });
    const challenge = randomSecret();
    const options = await webAuthnRegistrationOptions({ config, deviceId: 'd', userName: 'u', userDisplayName: 'U', challenge });
    await refusedWith(verifyWebAuthnRegistration({ config, response: auth.register(options, { userVerified: false }), expectedChallenge: challenge }), /verif/i);
    await refusedWith(verifyWebAuthnRegistration({ config, response: auth.register(options), expectedChallenge: randomSecret() }), /challenge/);
  });

  describe('assertions that must be refused', () => {
    let auth: SoftAuthenticator;
    let credential: WebAuthnCredential;
    const verify = (response: ReturnType<SoftAuthenticator['assert']>, expectedChallenge: string, cred = credential) =>
      verifyWebAuthnAssertion({ credential: cred, response, expectedChallenge, rpId: config.rpId, origins: config.origins });

    beforeEach(async () => {
      auth = new SoftAuthenticator({ rpId: 'localhost', origin });
      credential = await enrol(auth);
    });

    it('without user verification (no biometric)', async () => {
      const challenge = randomSecret();
      await refusedWith(verify(auth.assert({ challenge }, { userVerified: false }), challenge), /user verification/i);
    });

    it('for a different challenge, without quoting either challenge', async () => {
      const challenge = randomSecret();
      const signed = randomSecret();
      await assert.rejects(verify(auth.assert({ challenge }, { challenge: signed }), challenge), (e: unknown) => {
        assert.ok(e instanceof AppError && e.code === 'auth_failed');
        assert.match(e.message, /challenge/);
        assert.ok(!e.message.includes(challenge) && !e.message.includes(signed));
        return true;
      });
    });

    it('when the counter did not move forward (cloned authenticator)', async () => {
      const stored = { ...credential, counter: 5 };
      const challenge = randomSecret();
      await refusedWith(verify(auth.assert({ challenge }, { counter: 3 }), challenge, stored), /counter/);
      await refusedWith(verify(auth.assert({ challenge }, { counter: 5 }), challenge, stored), /counter/);
      const ok = await verify(auth.assert({ challenge }, { counter: 6 }), challenge, stored);
      assert.equal(ok.newCounter, 6);
    });

    it('from another origin or relying party', async () => {
      const challenge = randomSecret();
      await refusedWith(verify(auth.assert({ challenge }, { origin: 'https://evil.example' }), challenge), /origin/);
      await refusedWith(verify(auth.assert({ challenge }, { rpId: 'evil.example' }), challenge), /RP ID/i);
    });

    it('signed by another authenticator than the one enrolled', async () => {
      const stranger = new SoftAuthenticator({ rpId: 'localhost', origin });
      const challenge = randomSecret();
      await refusedWith(verify(stranger.assert({ challenge }), challenge), /not the one enrolled/);
      // Same credential id presented, but the signature is the stranger's.
      const forged = stranger.assert({ challenge });
      forged.id = credential.credentialId;
      forged.rawId = credential.credentialId;
      await refusedWith(verify(forged, challenge), /signature/);
    });
  });
});
