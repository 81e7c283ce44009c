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
 *
 * A 404 or 410 answer means the subscription is gone (RFC 8030 §7.3): the result tells the
 * caller to forget it.
 */
import { createHash } from 'node:crypto';
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
  const vapidDetails = {
    subject: options.vapid.subject,
    publicKey: options.vapid.publicKey,
    privateKey: options.vapid.privateKey,
  };

  async function send(sub: PushSubscription, payload: NotificationPayload, now: Date): Promise<DeliveryResult> {
    const problem = endpointProblem(sub.endpoint);
    if (problem) return { ok: false, failure: 'rejected', detail: problem };

    const ttl = Math.max(0, Math.ceil((Date.parse(payload.expiresAt) - now.getTime()) / 1000));
    let details: ReturnType<typeof webpush.generateRequestDetails>;
    try {
      details = webpush.generateRequestDetails(sub, JSON.stringify(payload), {
        vapidDetails,
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
    for (const [name, value] of Object.entries(details.headers)) {
      // fetch computes Content-Length itself.
      if (name.toLowerCase() !== 'content-length') headers[name] = String(value);
    }

    let status: number;
    let responseText = '';
    try {
      const res = await fetch(sub.endpoint, {
        method: 'POST',
        headers,
        body: details.body ?? undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      responseText = (await res.text()).slice(0, 200);
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError';
      const detail = timedOut
        ? `push service did not answer within ${timeoutMs} ms`
        : `push service unreachable (${err.cause?.code ?? err.message})`;
      options.logger.warn({ pushService: pushServiceOf(sub.endpoint), detail }, 'web push not sent');
      return { ok: false, failure: 'unreachable', detail };
    }

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
