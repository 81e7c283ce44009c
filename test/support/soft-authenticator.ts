/**
 * Software stand-ins for what a customer's phone holds, so tests can run real ceremonies:
 *
 *  - SoftAuthenticator: a WebAuthn platform authenticator with one P-256 credential. It answers
 *    registration options with a "none" attestation (WebAuthn §8.7) and request options with an
 *    assertion (authenticatorData || SHA-256(clientDataJSON), ES256 DER signature, §6.3.3),
 *    flags UP|UV and a counter that goes up by one per assertion. Every field can be spoiled to
 *    test refusals.
 *  - SoftDeviceKey: the app's WebCrypto device key, signing in IEEE P1363 (r||s) like
 *    `crypto.subtle.sign({name:'ECDSA', hash:'SHA-256'}, …)`.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export interface SoftAuthenticatorOptions {
  rpId: string;
  origin: string;
}

/** Ways to spoil a ceremony on purpose. */
export interface CeremonyOverrides {
  /** Clear the user-verified flag (the biometric did not happen). */
  userVerified?: boolean;
  /** Sign a different challenge than the options carried. */
  challenge?: string;
  origin?: string;
  rpId?: string;
  /** Use this signature counter instead of the next one. */
  counter?: number;
}

export class SoftAuthenticator {
  readonly credentialId: Buffer = randomBytes(32);
  readonly aaguid: Buffer = Buffer.alloc(16); // "none" attestation: all zeros is allowed
  counter = 0;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(private readonly opts: SoftAuthenticatorOptions) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  get credentialIdB64u(): string {
    return this.credentialId.toString('base64url');
  }

  /** The credential public key as a COSE_Key (RFC 9052 §7, EC2 / ES256 / P-256). */
  coseKey(): Uint8Array {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
  }

  private flags(o: CeremonyOverrides, extra = 0): number {
    return FLAG_UP | (o.userVerified === false ? 0 : FLAG_UV) | extra;
  }

  /** navigator.credentials.create() for these options. */
  register(options: PublicKeyCredentialCreationOptionsJSON, o: CeremonyOverrides = {}): RegistrationResponseJSON {
    const rpId = o.rpId ?? options.rp.id ?? this.opts.rpId;
    const clientDataJSON = this.clientData('webauthn.create', o.challenge ?? options.challenge, o.origin ?? this.opts.origin);
    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([this.flags(o, FLAG_AT)]),
      u32(o.counter ?? this.counter),
      this.aaguid,
      credIdLen,
      this.credentialId,
      Buffer.from(this.coseKey()),
    ]);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, string>>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, string>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    return {
      id: this.credentialIdB64u,
      rawId: this.credentialIdB64u,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get() for these options; bumps the counter unless overridden. */
  assert(options: Pick<PublicKeyCredentialRequestOptionsJSON, 'challenge'> & { rpId?: string }, o: CeremonyOverrides = {}): AuthenticationResponseJSON {
    const rpId = o.rpId ?? options.rpId ?? this.opts.rpId;
    let counter: number;
    if (o.counter !== undefined) {
      counter = o.counter;
    } else {
      this.counter += 1;
      counter = this.counter;
    }
    const clientDataJSON = this.clientData('webauthn.get', o.challenge ?? options.challenge, o.origin ?? this.opts.origin);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(o)]), u32(counter)]);
    // WebAuthn ES256 assertion signatures are ASN.1 DER (§6.5.5), unlike WebCrypto's P1363.
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
    return {
      id: this.credentialIdB64u,
      rawId: this.credentialIdB64u,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
      },
    };
  }
}

/** The app's device key: P-256, public part exported as a JWK, signatures in P1363. */
export class SoftDeviceKey {
  private readonly privateKey: KeyObject;
  readonly publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };

  constructor() {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    const jwk = pair.publicKey.export({ format: 'jwk' });
    this.publicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! };
  }

  /** The private JWK, for tests that check it is refused as a device key. */
  privateJwk(): Record<string, unknown> {
    return this.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  }

  /** Signs UTF-8 text (or bytes) and returns the base64url r||s signature. */
  sign(data: string | Buffer): string {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return sign('sha256', bytes, { key: this.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }
}
