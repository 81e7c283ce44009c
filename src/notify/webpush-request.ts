/**
 * One Web Push request, built and sent: the work of the push sender thread (webpush-thread.ts).
 *
 * - RFC 8291 (Message Encryption for Web Push, aes128gcm of RFC 8188) and RFC 8292 (VAPID): done
 *   by the `web-push` package's generateRequestDetails; this file sends the request itself so
 *   the timeout is ours.
 * - Per-message cost: the VAPID token is signed once per push-service origin and reused for most
 *   of its validity (RFC 8292 §2 allows up to 24 h), and requests go over keep-alive connections,
 *   so a message costs one encryption and one request on an open socket.
 *
 * What the answer means is decided by the channel (webpush-channel.ts), not here.
 */
import http from 'node:http';
import https from 'node:https';
import webpush from 'web-push';
import { guardedLookup, normaliseOrigins, SpecialAddressError } from '../security/push-endpoint-policy.js';
import type { VapidKeys } from './vapid-keys.js';

export interface PushRequest {
  /** An https: URL to a public host, or one of the allowed origins (checked by the channel). */
  endpoint: string;
  keys: { p256dh: string; auth: string };
  /** The notification, JSON. */
  payload: string;
  /** RFC 8030 §5.2, seconds. */
  ttl: number;
  /** RFC 8030 §5.3. */
  urgency: 'high' | 'normal';
  /** RFC 8030 §5.4. */
  topic: string;
}

export type PushAnswer =
  | { kind: 'answered'; status: number; /** The first 200 characters of the body. */ text: string }
  /** The subscription's keys are malformed: no request can ever succeed for it. */
  | { kind: 'not_encrypted'; detail: string }
  | { kind: 'timeout' }
  /** The endpoint's name resolved to a special-purpose address: no connection was made. */
  | { kind: 'refused'; detail: string }
  | { kind: 'unreachable'; /** A system error code or message; no secrets. */ reason: string };

export interface PushSenderOptions {
  vapid: VapidKeys;
  /** Upper bound for one push request, connection included. */
  timeoutMs: number;
  /** Origins sent to whatever they resolve to (notify.webpush.allowedEndpointOrigins). */
  allowedEndpointOrigins: string[];
}

/** Lifetime of a VAPID token; renewed when less than VAPID_RENEW_MARGIN_S of it is left. */
const VAPID_LIFETIME_S = 12 * 3600;
const VAPID_RENEW_MARGIN_S = 3600;
/** Push-service origins are few (one per browser vendor); the bound only guards against odd endpoints. */
const VAPID_CACHE_MAX = 64;

export function createPushSender(options: PushSenderOptions): { deliver(request: PushRequest): Promise<PushAnswer> } {
  const { vapid, timeoutMs } = options;
  const allowed = normaliseOrigins(options.allowedEndpointOrigins);
  const vapidCache = new Map<string, { authorization: string; renewAt: number }>();
  // Keep-alive: a TLS handshake per knock costs more CPU than the message itself.
  const agents = {
    'https:': new https.Agent({ keepAlive: true }),
    'http:': new http.Agent({ keepAlive: true }),
  };

  /** The VAPID Authorization header for a push service origin (RFC 8292 §2: aud is the origin). */
  function vapidAuthorization(audience: string): string {
    const nowS = Math.floor(Date.now() / 1000);
    const cached = vapidCache.get(audience);
    if (cached && nowS < cached.renewAt) return cached.authorization;
    const expiration = nowS + VAPID_LIFETIME_S;
    const headers = webpush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration);
    if (vapidCache.size >= VAPID_CACHE_MAX && !cached) vapidCache.delete(vapidCache.keys().next().value!);
    vapidCache.set(audience, { authorization: headers.Authorization, renewAt: expiration - VAPID_RENEW_MARGIN_S });
    return headers.Authorization;
  }

  async function deliver(request: PushRequest): Promise<PushAnswer> {
    const url = new URL(request.endpoint);
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails({ endpoint: request.endpoint, keys: request.keys }, request.payload, {
        // Our own (cached) token instead of vapidDetails, which would sign a new one per message.
        vapidDetails: null as unknown as undefined,
        headers: { Authorization: vapidAuthorization(`${url.protocol}//${url.host}`) },
        TTL: request.ttl,
        contentEncoding: 'aes128gcm',
        urgency: request.urgency,
        topic: request.topic,
      });
    } catch (e) {
      return { kind: 'not_encrypted', detail: (e as Error).message };
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    try {
      // Every connection's addresses are checked as it is made, unless the origin is allowed.
      const lookup = allowed.has(url.origin) ? undefined : guardedLookup;
      const answer = await post(url, headers, details.body ?? Buffer.alloc(0), timeoutMs, agents[url.protocol as 'https:' | 'http:'], lookup);
      return { kind: 'answered', ...answer };
    } catch (e) {
      if (e instanceof PushTimeout) return { kind: 'timeout' };
      if (e instanceof SpecialAddressError) return { kind: 'refused', detail: e.message };
      const err = e as Error & { code?: string };
      return { kind: 'unreachable', reason: err.code ?? err.message };
    }
  }

  return { deliver };
}

class PushTimeout extends Error {}

/**
 * One POST, bounded by timeoutMs from start to the last byte of the answer (of which the first
 * 200 characters are kept). Redirects are not followed. A kept-alive socket the push service
 * closed while idle fails with ECONNRESET before any answer; that request is retried once on a
 * fresh connection, as the message never reached the service.
 */
function post(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
  timeoutMs: number,
  agent: http.Agent,
  lookup: typeof guardedLookup | undefined,
): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + timeoutMs;
  const attempt = (retry: boolean): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | null, answer?: { status: number; text: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method: 'POST', headers, agent, ...(lookup ? { lookup } : {}) });
      const timer = setTimeout(() => {
        finish(new PushTimeout());
        req.destroy();
      }, Math.max(0, deadline - Date.now()));
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 200) text += chunk;
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, text: text.slice(0, 200) }));
        res.on('error', (e) => finish(e));
      });
      req.on('error', (e: Error & { code?: string }) => {
        if (!settled && retry && !answered && req.reusedSocket && e.code === 'ECONNRESET') {
          settled = true;
          clearTimeout(timer);
          attempt(false).then(resolve, reject);
        } else {
          finish(e);
        }
      });
      req.end(body);
    });
  return attempt(true);
}
