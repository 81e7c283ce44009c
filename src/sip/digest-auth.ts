/**
 * HTTP Digest authentication for desk phones (RFC 3261 §22.4, RFC 7616 with the SIP algorithm
 * list of RFC 8760): challenges, stateless nonces, and the check of a phone's response against
 * the stored HA1 (the only SIP credential kept).
 *
 * Nonces carry their own issue time and an HMAC, so any instance sharing the key can check them
 * without storing anything; an expired nonce is answered with `stale=true` so the phone retries
 * with the same password instead of asking the user. The nonce-count (nc) of each nonce is
 * remembered per instance for the nonce's life, so a captured response cannot be replayed here.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  qop: 'auth' | null;
  nc: string | null;
  cnonce: string | null;
  opaque: string | null;
}

export type DigestOutcome =
  /** No Digest credentials for our realm: challenge. */
  | { kind: 'missing' }
  /** A nonce we issued but too old (or an nc already seen): challenge again with stale=true. */
  | { kind: 'stale'; username: string }
  /** Credentials that cannot be checked (bad syntax, foreign nonce, wrong realm/uri). */
  | { kind: 'malformed'; username: string | null; reason: string }
  | { kind: 'unknown_user'; username: string }
  | { kind: 'wrong_password'; username: string }
  | { kind: 'ok'; username: string; algorithm: DigestAlgorithm };

/** The stored hash for a user and algorithm; null when the user does not exist (or lacks it). */
export type Ha1Lookup = (username: string, algorithm: DigestAlgorithm) => Promise<string | null | undefined>;

const NONCE_MAC_BYTES = 16;
const NONCE_RANDOM_BYTES = 9;
const MAX_TRACKED_NONCES = 50_000;

function hashHex(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}

/** HA1 = H(username:realm:password) — what the store keeps (RFC 7616 §3.4.2). */
export function digestHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hashHex(algorithm, `${username}:${realm}:${password}`);
}

/** The response a client computes (RFC 7616 §3.4.1; without qop, the RFC 2069 form RFC 3261 keeps). */
export function digestResponse(args: {
  algorithm: DigestAlgorithm;
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  qop: 'auth' | null;
  nc?: string | null;
  cnonce?: string | null;
}): string {
  const ha2 = hashHex(args.algorithm, `${args.method}:${args.uri}`);
  if (args.qop === 'auth') {
    return hashHex(args.algorithm, `${args.ha1}:${args.nonce}:${args.nc}:${args.cnonce}:auth:${ha2}`);
  }
  return hashHex(args.algorithm, `${args.ha1}:${args.nonce}:${ha2}`);
}

/**
 * Parses `Digest k=v, k="v", …`. Returns null for another scheme (e.g. Bearer). Values are
 * unquoted; a quoted value may contain commas and escaped quotes.
 */
export function parseDigestParams(header: string): Record<string, string> | null {
  const m = /^\s*Digest\s+/i.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/y;
  re.lastIndex = m[0].length;
  while (re.lastIndex < header.length) {
    const p = re.exec(header);
    if (!p) break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return params;
}

function toCredentials(params: Record<string, string>): DigestCredentials | string {
  const { username, realm, nonce, uri, response } = params;
  if (!username || realm === undefined || !nonce || !uri || !response) return 'missing username, realm, nonce, uri or response';
  const alg = (params.algorithm ?? 'MD5').toUpperCase();
  if (alg !== 'MD5' && alg !== 'SHA-256') return `unsupported algorithm ${alg}`;
  const qop = params.qop ? params.qop.toLowerCase() : null;
  if (qop !== null && qop !== 'auth') return `unsupported qop ${qop}`;
  if (qop === 'auth' && (!params.nc || !/^[0-9a-fA-F]{8}$/.test(params.nc) || !params.cnonce)) return 'qop=auth needs nc (8 hex digits) and cnonce';
  return {
    username,
    realm,
    nonce,
    uri,
    response: response.toLowerCase(),
    algorithm: alg,
    qop,
    nc: qop ? params.nc!.toLowerCase() : null,
    cnonce: qop ? params.cnonce! : null,
    opaque: params.opaque ?? null,
  };
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Compare equal-length buffers only; a length mismatch still costs one comparison.
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

export interface DigestAuthOptions {
  realm: string;
  /** HMAC key for nonces; share it between instances so any one can check another's nonce. */
  key: Buffer;
  nonceSeconds: number;
  /** Offered in this order (RFC 8760 §2.4: most preferred first). */
  algorithms: readonly DigestAlgorithm[];
  clock: () => Date;
}

export interface DigestAuth {
  readonly realm: string;
  /**
   * WWW-Authenticate values, one per algorithm, each with a fresh nonce. `algorithms` overrides
   * the configured ones (an extension whose phone is offered SHA-256).
   */
  challenge(opts?: { stale?: boolean; algorithms?: readonly DigestAlgorithm[] }): string[];
  /**
   * Checks the Authorization header values of a request. `requestUri` is the Request-URI the
   * digest `uri` must name.
   */
  verify(args: {
    authorization: string[];
    method: string;
    requestUri: string;
    lookupHa1: Ha1Lookup;
    /** The algorithms offered to this user, when not the configured ones. */
    algorithmsFor?: (username: string) => readonly DigestAlgorithm[];
  }): Promise<DigestOutcome>;
}

export function createDigestAuth(opts: DigestAuthOptions): DigestAuth {
  const realm = opts.realm;
  const lifetimeMs = opts.nonceSeconds * 1000;
  // nonce -> highest nc seen and when the nonce stops being valid; insertion order = age.
  const seen = new Map<string, { nc: number; until: number }>();

  const mac = (body: Buffer) => createHmac('sha256', opts.key).update(body).update(realm, 'utf8').digest().subarray(0, NONCE_MAC_BYTES);

  const issueNonce = (): string => {
    const body = Buffer.alloc(8 + NONCE_RANDOM_BYTES);
    body.writeBigUInt64BE(BigInt(opts.clock().getTime()), 0);
    randomBytes(NONCE_RANDOM_BYTES).copy(body, 8);
    return Buffer.concat([body, mac(body)]).toString('base64url');
  };

  /** 'fresh' | 'stale' (ours, expired) | 'foreign' (not issued with our key). */
  const nonceState = (nonce: string): { state: 'fresh' | 'stale' | 'foreign'; until: number } => {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 8 + NONCE_RANDOM_BYTES + NONCE_MAC_BYTES || raw.toString('base64url') !== nonce) return { state: 'foreign', until: 0 };
    const body = raw.subarray(0, 8 + NONCE_RANDOM_BYTES);
    if (!timingSafeEqual(raw.subarray(8 + NONCE_RANDOM_BYTES), mac(body))) return { state: 'foreign', until: 0 };
    const issuedAt = Number(body.readBigUInt64BE(0));
    const now = opts.clock().getTime();
    const until = issuedAt + lifetimeMs;
    // A nonce from the future (clock skew between instances) is accepted up to a few seconds.
    if (now >= until || issuedAt > now + 5000) return { state: 'stale', until };
    return { state: 'fresh', until };
  };

  /** Records nc for the nonce; false when this nc (or a later one) was already used. */
  const acceptNc = (nonce: string, nc: string | null, until: number): boolean => {
    const now = opts.clock().getTime();
    for (const [k, v] of seen) {
      if (v.until > now && seen.size <= MAX_TRACKED_NONCES) break;
      seen.delete(k);
    }
    // Without qop there is no counter (RFC 2069 clients): the nonce life bounds reuse.
    if (nc === null) return true;
    const count = parseInt(nc, 16);
    const prev = seen.get(nonce);
    if (prev && count <= prev.nc) return false;
    seen.set(nonce, { nc: count, until });
    return true;
  };

  return {
    realm,
    challenge({ stale = false, algorithms = opts.algorithms } = {}) {
      return algorithms.map(
        (alg) => `Digest realm="${realm}", nonce="${issueNonce()}", algorithm=${alg}, qop="auth"${stale ? ', stale=true' : ''}`,
      );
    },

    async verify({ authorization, method, requestUri, lookupHa1, algorithmsFor }) {
      // Several Authorization headers may be present (other realms); take the one for ours.
      let params: Record<string, string> | null = null;
      for (const value of authorization) {
        const p = parseDigestParams(value);
        if (p && (p.realm ?? '') === realm) {
          params = p;
          break;
        }
      }
      if (!params) return { kind: 'missing' };
      const creds = toCredentials(params);
      if (typeof creds === 'string') return { kind: 'malformed', username: params.username ?? null, reason: creds };
      if (!(algorithmsFor?.(creds.username) ?? opts.algorithms).includes(creds.algorithm)) {
        return { kind: 'malformed', username: creds.username, reason: `algorithm ${creds.algorithm} is not offered` };
      }
      const nonce = nonceState(creds.nonce);
      if (nonce.state === 'foreign') return { kind: 'stale', username: creds.username };
      if (creds.uri !== requestUri) {
        return { kind: 'malformed', username: creds.username, reason: 'digest uri does not match the Request-URI' };
      }
      const ha1 = await lookupHa1(creds.username, creds.algorithm);
      if (!ha1) return { kind: 'unknown_user', username: creds.username };
      const expected = digestResponse({ algorithm: creds.algorithm, ha1, method, uri: creds.uri, nonce: creds.nonce, qop: creds.qop, nc: creds.nc, cnonce: creds.cnonce });
      if (!safeEqualHex(expected, creds.response)) return { kind: 'wrong_password', username: creds.username };
      // The password was right: an old nonce or a replayed nc only earns a fresh challenge.
      if (nonce.state === 'stale') return { kind: 'stale', username: creds.username };
      if (!acceptNc(creds.nonce, creds.nc, nonce.until)) return { kind: 'stale', username: creds.username };
      return { kind: 'ok', username: creds.username, algorithm: creds.algorithm };
    },
  };
}
