/**
 * A push service double on 127.0.0.1 that speaks the sending side of Web Push:
 * - RFC 8030: POST to the subscription endpoint, TTL / Urgency / Topic headers, 201 Created;
 *   answers can be set per endpoint path (410 Gone, 500, …).
 * - RFC 8291: `createSubscription()` makes a subscription with a real P-256 key pair and auth
 *   secret, so a test can decrypt what the server sent (aes128gcm, RFC 8188) and read it the way
 *   the device's browser would. Decryption is written here with node:crypto, independently of the
 *   library that encrypts.
 * - RFC 8292: `verifyVapid()` checks the Authorization header's JWT signature with its `k` key.
 */
import { createECDH, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';
import type { PushSubscription } from '../../src/domain/model.js';

export interface ReceivedPush {
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: Buffer;
  /** The status the fake answered with. */
  status: number;
}

export interface TestSubscription {
  subscription: PushSubscription;
  path: string;
  /** Messages posted to this subscription, oldest first. */
  received(): ReceivedPush[];
  /** RFC 8291 decryption, as the user agent does it; returns the plaintext. */
  decrypt(body: Buffer): Buffer;
  /** The JSON payload of each message posted to this subscription. */
  payloads(): unknown[];
}

export interface FakePushService {
  /** Origin of the service, e.g. http://127.0.0.1:43121 */
  origin: string;
  received: ReceivedPush[];
  createSubscription(): TestSubscription;
  /** Subsequent POSTs to this path get `status` (e.g. 410 once the subscription is "gone"). */
  respondWith(path: string, status: number): void;
  close(): Promise<void>;
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** RFC 8291 §3.4 + RFC 8188 §2: one aes128gcm record, keyed from ECDH and the auth secret. */
export function decryptWebPush(body: Buffer, uaPrivate: ReturnType<typeof createECDH>, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body.readUInt8(20);
  const asPublic = body.subarray(21, 21 + idLength); // the sender's ephemeral public key
  const ciphertext = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error(`keyid should be a 65-byte P-256 point, got ${idLength} bytes`);
  if (ciphertext.length > recordSize) throw new Error('web push messages are a single record');

  const uaPublic = uaPrivate.getPublicKey();
  const ecdhSecret = uaPrivate.computeSecret(asPublic);
  const prkKey = hmac(authSecret, ecdhSecret);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = hmac(prkKey, Buffer.concat([keyInfo, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);

  const tag = ciphertext.subarray(ciphertext.length - 16);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(tag);
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // Last record: data, then the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 0x02) throw new Error('missing last-record delimiter');
  return padded.subarray(0, end);
}

export interface VapidCheck {
  /** The `k` parameter: the sender's VAPID public key, base64url. */
  publicKey: string;
  claims: JWTPayload;
}

/**
 * RFC 8292 §3: `Authorization: vapid t=<JWT>, k=<public key>`. Verifies the ES256 signature with
 * k and the audience (the push service's origin); throws when anything is off.
 */
export async function verifyVapid(authorization: string | undefined, audience: string): Promise<VapidCheck> {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  if (!m) throw new Error(`not a VAPID Authorization header: ${authorization}`);
  const [, token, k] = m as unknown as [string, string, string];
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const key = await importJWK(
    {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    'ES256',
  );
  const { payload } = await jwtVerify(token, key, { algorithms: ['ES256'], audience });
  if (typeof payload.exp !== 'number') throw new Error('VAPID JWT has no exp');
  if (payload.exp - Date.now() / 1000 > 24 * 3600) throw new Error('VAPID JWT lives longer than 24 hours');
  return { publicKey: k, claims: payload };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakePushService(): Promise<FakePushService> {
  const received: ReceivedPush[] = [];
  const statusByPath = new Map<string, number>();

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = (req.url ?? '/').split('?')[0]!;
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      const status = statusByPath.get(path) ?? 201;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      received.push({ path, headers, body, status });
      if (status === 201) {
        res.writeHead(201, { Location: `/messages/${randomUUID()}` }).end();
      } else {
        res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status === 410 ? 'subscription expired' : 'push service error');
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    received,
    respondWith(path, status) {
      statusByPath.set(path, status);
    },
    createSubscription() {
      const ua = createECDH('prime256v1');
      ua.generateKeys();
      const auth = randomBytes(16);
      const path = `/push/${randomUUID()}`;
      const decrypt = (body: Buffer) => decryptWebPush(body, ua, auth);
      const mine = () => received.filter((r) => r.path === path);
      return {
        path,
        subscription: {
          endpoint: `${origin}${path}`,
          keys: { p256dh: ua.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
        },
        received: mine,
        decrypt,
        payloads: () => mine().map((r) => JSON.parse(decrypt(r.body).toString('utf8')) as unknown),
      };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
