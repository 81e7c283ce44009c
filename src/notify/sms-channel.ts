/**
 * SMS with the link, the fallback when no device can be reached by push (SPEC core flow 1,
 * step 2). Sent through Twilio's Programmable Messaging API: POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json with To, From and Body, HTTP Basic auth with
 * the account SID and auth token.
 *
 * The API base URL is configurable (notify.sms.apiBaseUrl) so tests talk to a local double; the
 * `twilio` client builds every Messages URL from `client.api.baseUrl`.
 *
 * The auth token never reaches a log: failures are reported as Twilio's error code and message
 * only, never the raw HTTP error (whose request config holds the Authorization header).
 */
import type { Logger } from 'pino';
import twilio from 'twilio';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import type { DeliveryResult, SmsChannel } from './channel.js';
import { smsText, type NotificationPayload } from './notification-payload.js';
import { maskPhone } from './redact.js';

export interface SmsChannelOptions {
  sms: Pick<Config['notify']['sms'], 'accountSid' | 'authToken' | 'from' | 'apiBaseUrl'>;
  logger: Logger;
  /** Upper bound for one API request. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** Twilio's RestException carries status, code and message from the API's error JSON. */
interface TwilioApiError {
  status?: unknown;
  code?: unknown;
  message?: unknown;
}

function describeFailure(e: unknown, timeoutMs: number): { failure: 'rejected' | 'unreachable'; detail: string } {
  const err = (e ?? {}) as TwilioApiError & { name?: unknown; code?: unknown };
  if (typeof err.status === 'number') {
    const code = typeof err.code === 'number' ? ` ${err.code}` : '';
    const message = typeof err.message === 'string' ? err.message : 'no message';
    return { failure: 'rejected', detail: `Twilio error${code} (HTTP ${err.status}): ${message}` };
  }
  // No HTTP answer: a network error from the HTTP client. Only its code is reported.
  if (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT') {
    return { failure: 'unreachable', detail: `Twilio did not answer within ${timeoutMs} ms` };
  }
  return { failure: 'unreachable', detail: `Twilio unreachable (${typeof err.code === 'string' ? err.code : 'network error'})` };
}

export function createSmsChannel(options: SmsChannelOptions): SmsChannel {
  const { accountSid, authToken, from, apiBaseUrl } = options.sms;
  if (!accountSid || !authToken || !from) {
    throw new AppError('validation_failed', 'SMS is enabled but notify.sms.accountSid, authToken or from is empty.');
  }
  if (!accountSid.startsWith('AC')) {
    throw new AppError('validation_failed', 'notify.sms.accountSid must be a Twilio account SID (starts with "AC").');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = twilio(accountSid, authToken, {
    timeout: timeoutMs,
    // Explicit, so TWILIO_LOG_LEVEL=debug in the environment cannot turn on the library's own
    // console logging of requests.
    logLevel: 'info',
  });
  if (apiBaseUrl) client.api.baseUrl = apiBaseUrl.replace(/\/+$/, '');

  async function send(toE164: string, payload: NotificationPayload): Promise<DeliveryResult> {
    try {
      const message = await client.messages.create({ to: toE164, from, body: smsText(payload) });
      options.logger.info({ to: maskPhone(toE164), sid: message.sid, callRequestId: payload.callRequestId }, 'sms sent');
      return { ok: true, providerId: message.sid };
    } catch (e) {
      const { failure, detail } = describeFailure(e, timeoutMs);
      options.logger.warn({ to: maskPhone(toE164), callRequestId: payload.callRequestId, detail }, 'sms not sent');
      return { ok: false, failure, detail };
    }
  }

  return { name: 'sms', send };
}
