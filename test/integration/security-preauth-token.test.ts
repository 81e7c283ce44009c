/**
 * Pre-authentication tokens against the real store: issue, verify once, refuse everything a
 * caller could forge, replay or misuse (RFC 7519, RFC 8725).
 */
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { AppError, type ErrorCode } from '../../src/domain/errors.js';
import { importDevicePublicKey } from '../../src/security/device-key.js';
import {
  describeTokenForLog,
  issuePreauthToken,
  verifyPreauthSignatureOnly,
  verifyPreauthToken,
  type IssuePreauthInput,
  type VerifyPreauthOptions,
} from '../../src/security/preauth-token.js';
import { randomSecret, sha256Hex } from '../../src/security/secrets.js';
import { KeyRing } from '../../src/security/signing-keys.js';
import { openStore } from '../../src/store/pg-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';

const ISSUER = 'https://knock.example';
const AUDIENCE = 'knock.localhost';
const T0 = new Date('2030-05-06T09:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

interface Fixture {
  customerId: string;
  deviceId: string;
  thumbprint: string;
  callRequestId: string;
  reference: string;
}

/** An agent, a customer with one enrolled device, and an accepted call request. */
async function createFixture(store: Store): Promise<Fixture> {
  const suffix = randomSecret(16).slice(0, 8);
  const agent = await store.agents.create({
    username: `agent-${suffix}`,
    name: 'Anna Agent',
    extension: `1${Math.floor(Math.random() * 1e6)}`,
    groups: [],
    role: 'agent',
    secrets: { passwordHash: 'scrypt$unused', sipHa1: '0'.repeat(32), sipHa1Sha256: null, sipRealm: 'knock.localhost' },
  });
  const customer = await store.customers.create({ name: 'Ada Customer', phoneE164: null, timeZone: 'Europe/London', externalRef: null });
  const key = importDevicePublicKey(new SoftDeviceKey().publicJwk);
  const device = await store.devices.create({
    customerId: customer.id,
    label: 'Ada phone',
    publicKeyJwk: { ...key.jwk },
    keyThumbprint: key.thumbprint,
    webauthn: null,
    pushSubscription: null,
    pinHash: null,
    credentialHash: sha256Hex(randomSecret()),
  });
  const reference = `INC-${suffix}`;
  const { request } = await store.callRequests.create({
    reference,
    reason: 'Card payment declined',
    customerId: customer.id,
    groupId: null,
    agentId: agent.id,
    state: 'authenticated',
    answerDeadline: at(300),
    acceptedDeviceId: device.id,
    authMethod: 'biometric',
    authenticatedAt: T0,
    scheduledFor: null,
    scheduleNote: null,
    snoozeUntil: null,
    holdUntil: null,
    attempts: 0,
    outcome: null,
    requestedAt: T0,
    createdBy: agent.id,
    idempotencyKey: null,
  });
  return { customerId: customer.id, deviceId: device.id, thumbprint: key.thumbprint, callRequestId: request.id, reference };
}

function b64uJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = token.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
    signature: s,
  };
}

/** Signs arbitrary header and payload with an ES256 key, the way an attacker holding it would. */
function signEs256(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64uJson(header)}.${b64uJson(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function refused(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<AppError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AppError, `expected AppError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('security: pre-authentication token', () => {
  let db: TestDatabase;
  let store: Store;
  let ring: KeyRing;
  let fx: Fixture;

  before(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url });
    ring = await KeyRing.load(store, { rotationDays: 30, overlapSeconds: 300 }, T0);
    fx = await createFixture(store);
  });
  after(async () => {
    await store?.close();
    await db?.drop();
  });

  const issue = (over: Partial<IssuePreauthInput> = {}) =>
    issuePreauthToken({
      keyRing: ring,
      store,
      issuer: ISSUER,
      audience: AUDIENCE,
      lifetimeSeconds: 60,
      customerId: fx.customerId,
      callRequestId: fx.callRequestId,
      reference: fx.reference,
      deviceId: fx.deviceId,
      deviceKeyThumbprint: fx.thumbprint,
      amr: 'biometric',
      authTime: at(-2),
      now: T0,
      ...over,
    });

  const verify = (token: string, over: Partial<VerifyPreauthOptions> = {}) =>
    verifyPreauthToken(token, {
      keyRing: ring,
      store,
      issuer: ISSUER,
      audience: AUDIENCE,
      dialogId: `dlg-${randomSecret(16)}`,
      now: at(5),
      ...over,
    });

  it('issues an explicitly typed ES256 JWT with the claims the call needs', async () => {
    const { token, jti, expiresAt } = await issue({ amr: 'pin' });
    const { header, payload } = decode(token);
    assert.deepEqual(header, { alg: 'ES256', typ: 'preauth+jwt', kid: ring.current().kid });
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.aud, AUDIENCE);
    assert.equal(payload.sub, fx.customerId);
    assert.equal(payload.jti, jti);
    assert.equal(Buffer.from(jti, 'base64url').length, 16);
    assert.equal(payload.iat, T0.getTime() / 1000);
    assert.equal(payload.nbf, payload.iat);
    assert.equal(payload.exp, (payload.iat as number) + 60);
    assert.equal(expiresAt.getTime(), at(60).getTime());
    assert.deepEqual(payload.amr, ['hwk', 'pin', 'mfa']);
    assert.equal(payload.auth_method, 'pin');
    assert.equal(payload.auth_time, at(-2).getTime() / 1000);
    assert.equal(payload.crq, fx.callRequestId);
    assert.equal(payload.ref, fx.reference);
    assert.equal(payload.did, fx.deviceId);
    assert.deepEqual(payload.cnf, { jkt: fx.thumbprint });
    const recorded = await store.tokens.get(jti);
    assert.equal(recorded?.callRequestId, fx.callRequestId);
    assert.equal(recorded?.consumedAt, null);
  });

  it('verifies once, binds the dialog, and refuses the replay', async () => {
    const { token, jti } = await issue();
    const ok = await verify(token, { dialogId: 'dialog-1', expectedKeyThumbprint: fx.thumbprint, expectedCallRequestId: fx.callRequestId });
    assert.equal(ok.jti, jti);
    assert.equal(ok.customerId, fx.customerId);
    assert.equal(ok.callRequestId, fx.callRequestId);
    assert.equal(ok.reference, fx.reference);
    assert.equal(ok.deviceId, fx.deviceId);
    assert.equal(ok.authMethod, 'biometric');
    assert.deepEqual(ok.amr, ['hwk', 'user', 'mfa']);
    assert.equal(ok.keyThumbprint, fx.thumbprint);
    assert.equal(ok.expiresAt.getTime(), at(60).getTime());
    assert.equal((await store.tokens.get(jti))?.dialogId, 'dialog-1');

    await refused(verify(token, { dialogId: 'dialog-2', now: at(6) }), 'token_replayed', /already been used/);
    assert.equal((await store.tokens.get(jti))?.dialogId, 'dialog-1');
  });

  it('lets exactly one of ten concurrent presentations through', async () => {
    const { token } = await issue();
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => verify(token, { dialogId: `race-${i}` })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 9);
    for (const r of lost) assert.equal((r.reason as AppError).code, 'token_replayed');
  });

  it('refuses an expired token from the second it expires', async () => {
    const a = await issue({ lifetimeSeconds: 30 });
    await verify(a.token, { now: new Date(at(30).getTime() - 1) });
    const b = await issue({ lifetimeSeconds: 30 });
    await refused(verify(b.token, { now: at(30) }), 'token_expired', /expired/);
    const c = await issue({ lifetimeSeconds: 30 });
    await refused(verify(c.token, { now: at(3600) }), 'token_expired');
  });

  it('refuses a token used before it was issued, tolerating a few seconds of clock skew', async () => {
    const { token } = await issue();
    await refused(verify(token, { now: at(-60) }), 'token_invalid', /not valid yet/);
    await refused(verify(token, { now: at(-6) }), 'token_invalid', /not valid yet/);
    await verify(token, { now: at(-4) }); // verifier's clock 4 s behind the issuer's
  });

  it('refuses another issuer or audience, and such a refusal does not spend the token', async () => {
    const { token } = await issue();
    await refused(verify(token, { issuer: 'https://other.example' }), 'token_invalid', /issued by someone else/);
    await refused(verify(token, { audience: 'other.localhost' }), 'token_invalid', /another audience/);
    await verify(token);
  });

  it('accepts an audience list that contains ours', async () => {
    const priv = ring.current();
    const { token } = await issue();
    const { header, payload } = decode(token);
    // Re-signed by the real key with a list audience and a fresh, recorded jti.
    const jti = randomSecret(16);
    await store.tokens.record({ jti, callRequestId: fx.callRequestId, customerId: fx.customerId, deviceId: fx.deviceId, expiresAt: at(60) });
    const listAud = signEs256(header, { ...payload, jti, aud: ['other', AUDIENCE] }, priv.privateKey);
    assert.equal((await verify(listAud)).jti, jti);
  });

  it('refuses a token whose signature was altered by one byte', async () => {
    const { token } = await issue();
    const [h, p, s] = token.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[20] = sig[20]! ^ 0x01;
    await refused(verify(`${h}.${p}.${sig.toString('base64url')}`), 'token_invalid', /signature does not verify/);
    // A different spelling of the same signature bytes is refused too.
    const last = s.at(-1)!;
    const respelled = s.slice(0, -1) + String.fromCharCode(last.charCodeAt(0) + 1);
    await refused(verify(`${h}.${p}.${respelled}`), 'token_invalid');
    await verify(token);
  });

  it('refuses a payload changed after signing', async () => {
    const { token } = await issue();
    const { payload } = decode(token);
    const [h, , s] = token.split('.') as [string, string, string];
    const other = b64uJson({ ...payload, sub: '00000000-0000-4000-8000-000000000000' });
    await refused(verify(`${h}.${other}.${s}`), 'token_invalid', /signature/);
  });

  it('refuses alg "none", HS256 keyed with our public key, and other algorithms', async () => {
    const { token } = await issue();
    const { header, payload } = decode(token);
    const [, p] = token.split('.') as [string, string];

    const none = `${b64uJson({ ...header, alg: 'none' })}.${p}.`;
    await refused(verify(none), 'token_invalid');

    // The classic key-confusion forgery: HMAC with the published public key as the secret.
    const jwk = ring.jwks().keys[0]!;
    const hsInput = `${b64uJson({ ...header, alg: 'HS256' })}.${p}`;
    const hs = `${hsInput}.${createHmac('sha256', JSON.stringify(jwk)).update(hsInput).digest('base64url')}`;
    await refused(verify(hs), 'token_invalid');

    for (const alg of ['RS256', 'ES384', 'es256', 'PS256', 'EdDSA']) {
      const forged = signEs256({ ...header, alg }, payload, ring.current().privateKey);
      await refused(verify(forged), 'token_invalid', /not ES256/);
    }
    await verify(token);
  });

  it('refuses JWTs of another type and headers with critical extensions', async () => {
    const { token } = await issue();
    const { header, payload } = decode(token);
    const key = ring.current().privateKey;
    await refused(verify(signEs256({ ...header, typ: 'JWT' }, payload, key)), 'token_invalid', /type/);
    await refused(verify(signEs256({ alg: 'ES256', kid: header.kid }, payload, key)), 'token_invalid', /type/);
    await refused(verify(signEs256({ ...header, crit: ['exp'], exp: 1 }, payload, key)), 'token_invalid', /critical/);
    // "application/" prefix and case are allowed by RFC 7515 §4.1.9.
    const jti = randomSecret(16);
    await store.tokens.record({ jti, callRequestId: fx.callRequestId, customerId: fx.customerId, deviceId: fx.deviceId, expiresAt: at(60) });
    await verify(signEs256({ ...header, typ: 'application/PREAUTH+JWT' }, { ...payload, jti }, key));
  });

  it('refuses an unknown kid and a known kid with a foreign key', async () => {
    const { token } = await issue();
    const { header, payload } = decode(token);
    const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await refused(verify(signEs256({ ...header, kid: 'no-such-key' }, payload, foreign)), 'token_invalid', /unknown or retired key/);
    await refused(verify(signEs256(header, payload, foreign)), 'token_invalid', /signature does not verify/);
  });

  it('refuses a token bound to another device key or another call request', async () => {
    const { token } = await issue();
    await refused(verify(token, { expectedKeyThumbprint: importDevicePublicKey(new SoftDeviceKey().publicJwk).thumbprint }), 'token_misbound', /device key/);
    await refused(verify(token, { expectedCallRequestId: '00000000-0000-4000-8000-000000000000' }), 'token_misbound', /call request/);
    await verify(token, { expectedKeyThumbprint: fx.thumbprint, expectedCallRequestId: fx.callRequestId });
  });

  it('refuses lifetimes over 120 s at issue, and such tokens if someone signs one anyway', async () => {
    await refused(issue({ lifetimeSeconds: 121 }), 'validation_failed', /120/);
    await refused(issue({ lifetimeSeconds: 0 }), 'validation_failed');
    await issue({ lifetimeSeconds: 120 });

    const { token } = await issue();
    const { header, payload } = decode(token);
    const long = signEs256(header, { ...payload, exp: (payload.iat as number) + 600 }, ring.current().privateKey);
    await refused(verify(long), 'token_invalid', /lifetime/);
  });

  it('refuses a well-signed token this service never recorded', async () => {
    const { token } = await issue();
    const { header, payload } = decode(token);
    const stray = signEs256(header, { ...payload, jti: randomSecret(16) }, ring.current().privateKey);
    await refused(verify(stray), 'token_invalid', /not issued by this service/);
  });

  it('refuses tokens with missing or mistyped claims', async () => {
    const { token } = await issue();
    const { header, payload } = decode(token);
    const key = ring.current().privateKey;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['sub', { ...payload, sub: undefined }],
      ['exp', { ...payload, exp: String(payload.exp) }],
      ['cnf.jkt', { ...payload, cnf: {} }],
      ['amr', { ...payload, amr: 'hwk' }],
      ['auth_method', { ...payload, auth_method: 'password' }],
      ['crq', { ...payload, crq: 7 }],
    ];
    for (const [claim, body] of cases) {
      const err = await refused(verify(signEs256(header, body, key)), 'token_invalid');
      assert.ok(err.message.includes(claim), `${claim}: ${err.message}`);
    }
  });

  it('refuses malformed and oversized input without echoing it', async () => {
    const { token } = await issue();
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', `${token}.x`, `${token} `, token.replace('.', '.*'), 'x'.repeat(5000)]) {
      const err = await refused(verify(bad), 'token_invalid');
      if (bad.length > 8) assert.ok(!err.message.includes(bad));
    }
    const huge = `${token.split('.')[0]}.${'A'.repeat(4096)}.${token.split('.')[2]}`;
    await refused(verify(huge), 'token_invalid', /longer than 4096/);
    await verify(token);
  });

  it('never puts the token in error messages', async () => {
    const { token } = await issue();
    await verify(token);
    const err = await refused(verify(token), 'token_replayed');
    assert.ok(!err.message.includes(token));
    assert.ok(!err.message.includes(token.split('.')[2]!));
  });

  it('describes a token for logs by a short fingerprint only', async () => {
    const { token } = await issue();
    const d = describeTokenForLog(token);
    assert.match(d, /^tok:[0-9a-f]{8}$/);
    assert.equal(describeTokenForLog(token), d);
    assert.notEqual(describeTokenForLog(`${token}x`), d);
    assert.ok(!token.includes(d.slice(4)));
  });

  it('checks the signature alone without spending the token', async () => {
    const { token, jti } = await issue();
    const checked = verifyPreauthSignatureOnly(token, { keyRing: ring, now: at(1) });
    assert.equal(checked.payload.jti, jti);
    assert.equal(checked.kid, ring.current().kid);
    assert.equal((await store.tokens.get(jti))?.consumedAt, null);
    const [h, p, s] = token.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[0] = sig[0]! ^ 0x80;
    assert.throws(() => verifyPreauthSignatureOnly(`${h}.${p}.${sig.toString('base64url')}`, { keyRing: ring, now: at(1) }), (e: unknown) => e instanceof AppError && e.code === 'token_invalid');
    await verify(token);
  });

  it('verifies with any standard JOSE library through the published JWK Set', async () => {
    const { token } = await issue();
    const jwks = createLocalJWKSet(ring.jwks(at(1)));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'preauth+jwt',
      algorithms: ['ES256'],
      currentDate: at(1),
    });
    assert.equal(protectedHeader.kid, ring.current().kid);
    assert.equal(payload.sub, fx.customerId);
  });

  describe('key rotation', () => {
    it('accepts a token of the previous key during the overlap, not after', async () => {
      const short = await KeyRing.load(store, { rotationDays: 30, overlapSeconds: 30 }, T0);
      const old = await issuePreauthToken({
        keyRing: short, store, issuer: ISSUER, audience: AUDIENCE, lifetimeSeconds: 120,
        customerId: fx.customerId, callRequestId: fx.callRequestId, reference: fx.reference,
        deviceId: fx.deviceId, deviceKeyThumbprint: fx.thumbprint, amr: 'biometric', authTime: T0, now: T0,
      });
      const old2 = await issuePreauthToken({
        keyRing: short, store, issuer: ISSUER, audience: AUDIENCE, lifetimeSeconds: 120,
        customerId: fx.customerId, callRequestId: fx.callRequestId, reference: fx.reference,
        deviceId: fx.deviceId, deviceKeyThumbprint: fx.thumbprint, amr: 'biometric', authTime: T0, now: T0,
      });
      const oldKid = short.current().kid;
      const newKid = await short.rotate(at(1));
      assert.notEqual(newKid, oldKid);
      assert.equal(short.current().kid, newKid);

      await verify(old.token, { keyRing: short, now: at(20) });
      await refused(verify(old2.token, { keyRing: short, now: at(40) }), 'token_invalid', /unknown or retired key/);
      // Still unspent: the refusal came from the key, before the store was asked.
      assert.equal((await store.tokens.get(old2.jti))?.consumedAt, null);
    });

    it('a sibling instance learns a key rotated elsewhere when a token shows its kid', async () => {
      const a = await KeyRing.load(store, { rotationDays: 30, overlapSeconds: 300 }, T0);
      const b = await KeyRing.load(store, { rotationDays: 30, overlapSeconds: 300, unknownKidRefreshMs: 1000 }, T0);
      await a.rotate(at(2));
      const fresh = await issuePreauthToken({
        keyRing: a, store, issuer: ISSUER, audience: AUDIENCE, lifetimeSeconds: 60,
        customerId: fx.customerId, callRequestId: fx.callRequestId, reference: fx.reference,
        deviceId: fx.deviceId, deviceKeyThumbprint: fx.thumbprint, amr: 'pin', authTime: at(2), now: at(2),
      });
      const ok = await verify(fresh.token, { keyRing: b, now: at(5) });
      assert.equal(ok.kid, a.current().kid);
    });
  });
});
