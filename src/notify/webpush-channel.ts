/**
 * Web Push to one device's subscription.
 *
 * - RFC 8030 (Generic Event Delivery Using HTTP Push): POST to the subscription endpoint with
 *   TTL (seconds the message is worth keeping: until the answer deadline), Urgency (high for a
 *   knock, §5.3) and Topic (§5.4: the push service replaces an undelivered earlier message with
 *   the same topic, so an "expired" notice replaces a knock still waiting in the queue).
 * - The encryption (RFC 8291) and VAPID (RFC 8292) and the request itself happen in the push
 *   sender thread (webpush-sender-thread.ts, webpush-request.ts); this file decides what is sent
 *   and what the answer means.
 *
 * A 404 or 410 answer means the subscription is gone (RFC 8030 §7.3): the result tells the
 * caller to forget it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { PushSubscription } from '../domain/model.js';
import type { DeliveryResult, WebPushChannel } from './channel.js';
import type { NotificationPayload } from './notification-payload.js';
import { endpointProblem, normaliseOrigins } from '../security/push-endpoint-policy.js';
import { pushServiceOf } from './redact.js';
import { validateVapidKeys, type VapidKeys } from './vapid-keys.js';
import type { PushAnswer } from './webpush-request.js';
import { createPushSenderThread } from './webpush-sender-thread.js';

export interface WebPushChannelOptions {
  vapid: VapidKeys;
  logger: Logger;
  /** Upper bound for one push request, connection included. */
  timeoutMs?: number;
  /** Origins sent to without the endpoint checks (notify.webpush.allowedEndpointOrigins). */
  allowedEndpointOrigins?: string[];
}

const DEFAULT_TIMEOUT_MS = 5000;

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
  const allowedEndpointOrigins = options.allowedEndpointOrigins ?? [];
  const allowed = normaliseOrigins(allowedEndpointOrigins);
  const sender = createPushSenderThread({ vapid: options.vapid, timeoutMs, allowedEndpointOrigins, logger: options.logger });

  async function send(sub: PushSubscription, payload: NotificationPayload, now: Date): Promise<DeliveryResult> {
    // Real push services are public HTTPS hosts; anything else is refused before any request
    // (and the thread checks the addresses a name resolves to when it connects).
    const problem = endpointProblem(sub.endpoint, allowed);
    if (problem) return { ok: false, failure: 'rejected', detail: `the subscription endpoint ${problem}` };
    const answer = await sender.deliver({
      endpoint: sub.endpoint,
      keys: { p256dh: sub.keys.p256dh, auth: sub.keys.auth },
      payload: JSON.stringify(payload),
      ttl: Math.max(0, Math.ceil((Date.parse(payload.expiresAt) - now.getTime()) / 1000)),
      urgency: payload.kind === 'expired' ? 'normal' : 'high',
      topic: topicFor(payload.callRequestId),
    });
    return resultOf(answer, sub.endpoint, timeoutMs, options.logger);
  }

  return { name: 'webpush', send, close: () => sender.close() };
}

function resultOf(answer: PushAnswer, endpoint: string, timeoutMs: number, logger: Logger): DeliveryResult {
  switch (answer.kind) {
    case 'refused':
      logger.warn({ pushService: pushServiceOf(endpoint) }, 'web push refused: special-purpose address');
      return { ok: false, failure: 'rejected', detail: answer.detail };
    case 'not_encrypted':
      // Malformed keys in the stored subscription: no request can ever succeed for it.
      return { ok: false, failure: 'rejected', detail: `cannot encrypt for this subscription: ${answer.detail}` };
    case 'timeout':
    case 'unreachable': {
      const detail = answer.kind === 'timeout' ? `push service did not answer within ${timeoutMs} ms` : `push service unreachable (${answer.reason})`;
      logger.warn({ pushService: pushServiceOf(endpoint), detail }, 'web push not sent');
      return { ok: false, failure: 'unreachable', detail };
    }
    case 'answered': {
      const { status, text } = answer;
      if (status >= 200 && status < 300) return { ok: true, providerId: null };
      if (status === 404 || status === 410) {
        return { ok: false, failure: 'subscription_gone', detail: `push service answered ${status}: the subscription no longer exists` };
      }
      logger.warn({ pushService: pushServiceOf(endpoint), status }, 'web push rejected');
      const said = text.replace(/\s+/g, ' ').trim();
      return { ok: false, failure: 'rejected', detail: `push service answered ${status}${said ? `: ${said}` : ''}` };
    }
  }
}
