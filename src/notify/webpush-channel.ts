/**
 * Web Push to one device's subscription.
 *
 * - RFC 8030 (Generic Event Delivery Using HTTP Push): POST to the subscription endpoint with
 *   TTL (seconds the message is worth keeping: until the answer deadline), Urgency (high for a
 *   knock, §5.3) and Topic (§5.4: the push service replaces an undelivered earlier message with
 *   the same topic, so an "expired" notice replaces a knock still waiting in the queue).
 * - RFC 8291 (Message Encryption for Web Push, aes128gcm of RFC 8188) and RFC 8292 (VAPID): done
 *   by the `web-push` package's generateRequestDetails; this file sends the request itself so
 *   the timeout and the endpoint rules below are ours.
 * - Per-message cost: the VAPID token is signed once per push-service origin and reused for most
 *   of its validity (RFC 8292 §2 allows up to 24 h), and requests go over keep-alive connections,
 *   so a knock costs one encryption and one request on an open socket.
 *
 * A 404 or 410 answer means the subscription is gone (RFC 8030 §7.3): the result tells the
 * caller to forget it.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import webpush from 'web-push';
import type { PushSubscription } from '../domain/model.js';
import type { DeliveryResult, WebPushChannel } from './channel.js';
import type { NotificationPayload } from './notification-payload.js';
import { pushServiceOf } from './redact.js';
import { validateVapidKeys, type VapidKeys } from './vapid-keys.js';

export interface WebPushChannelOptions {
  vapid: VapidKeys;
  logger: Logger;
  /** Upper bound for one push request, connection included. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** Lifetime of a VAPID token; renewed when less than VAPID_RENEW_MARGIN_S of it is left. */
const VAPID_LIFETIME_S = 12 * 3600;
const VAPID_RENEW_MARGIN_S = 3600;
/** Push-service origins are few (one per browser vendor); the bound only guards against odd endpoints. */
const VAPID_CACHE_MAX = 64;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Real push services are HTTPS. Plain HTTP is accepted only on the loopback interface, where a
 * local push service (development, tests) may listen; anything else would send the VAPID token
 * in clear text.
 */
function endpointProblem(endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'the subscription endpoint is not a URL';
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return null;
  return 'the subscription endpoint must use https';
}

/**
 * RFC 8030 §5.4: at most 32 characters of the URL-safe base64 alphabet. A UUID without its dashes
 * is exactly that; any other id is hashed so two requests never share a topic.
 */
export function topicFor(callRequestId: string): string {
  const compact = callRequestId.replace(/-/g, '');
  if (/^[A-Za-z0-9_]{1,32}$/.test(compact)) return compact;
  return createHash('sha256').update(callRequestId).digest('base64url').slice(0, 32);
}

export function createWebPushChannel(options: WebPushChannelOptions): WebPushChannel {
  // Bad keys are a configuration error: say so at start-up, not as a failure on every send.
  validateVapidKeys(options.vapid);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
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
    const headers = webpush.getVapidHeaders(
      audience,
      options.vapid.subject,
      options.vapid.publicKey,
      options.vapid.privateKey,
      'aes128gcm',
      expiration,
    );
    if (vapidCache.size >= VAPID_CACHE_MAX && !cached) vapidCache.delete(vapidCache.keys().next().value!);
    vapidCache.set(audience, { authorization: headers.Authorization, renewAt: expiration - VAPID_RENEW_MARGIN_S });
    return headers.Authorization;
  }

  async function send(sub: PushSubscription, payload: NotificationPayload, now: Date): Promise<DeliveryResult> {
    const problem = endpointProblem(sub.endpoint);
    if (problem) return { ok: false, failure: 'rejected', detail: problem };
    const url = new URL(sub.endpoint);

    const ttl = Math.max(0, Math.ceil((Date.parse(payload.expiresAt) - now.getTime()) / 1000));
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(sub, JSON.stringify(payload), {
        // Our own (cached) token instead of vapidDetails, which would sign a new one per message.
        vapidDetails: null as unknown as undefined,
        headers: { Authorization: vapidAuthorization(`${url.protocol}//${url.host}`) },
        TTL: ttl,
        contentEncoding: 'aes128gcm',
        urgency: payload.kind === 'expired' ? 'normal' : 'high',
        topic: topicFor(payload.callRequestId),
      });
    } catch (e) {
      // Malformed keys in the stored subscription: no request can ever succeed for it.
      return { ok: false, failure: 'rejected', detail: `cannot encrypt for this subscription: ${(e as Error).message}` };
    }

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(details.headers)) headers[name] = String(value);
    const body = details.body ?? Buffer.alloc(0);

    let answer: { status: number; text: string };
    try {
      answer = await post(url, headers, body, timeoutMs, agents[url.protocol as 'https:' | 'http:']);
    } catch (e) {
      const err = e as Error & { code?: string };
      const detail =
        err instanceof PushTimeout
          ? `push service did not answer within ${timeoutMs} ms`
          : `push service unreachable (${err.code ?? err.message})`;
      options.logger.warn({ pushService: pushServiceOf(sub.endpoint), detail }, 'web push not sent');
      return { ok: false, failure: 'unreachable', detail };
    }

    const { status, text: responseText } = answer;
    if (status >= 200 && status < 300) return { ok: true, providerId: null };
    if (status === 404 || status === 410) {
      return { ok: false, failure: 'subscription_gone', detail: `push service answered ${status}: the subscription no longer exists` };
    }
    const detail = `push service answered ${status}${responseText ? `: ${responseText.replace(/\s+/g, ' ').trim()}` : ''}`;
    options.logger.warn({ pushService: pushServiceOf(sub.endpoint), status }, 'web push rejected');
    return { ok: false, failure: 'rejected', detail };
  }

  return { name: 'webpush', send };
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
      const req = lib.request(url, { method: 'POST', headers, agent });
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
