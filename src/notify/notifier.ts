/**
 * Tells a customer about a call request (SPEC core flow 1, step 2; reminders step 5; the
 * "agent has moved on" notice step 6; the callback prompt step 4).
 *
 * Order of attempts: the open app (every enrolled, non-revoked device whose app holds its live
 * event stream on this process gets the notification down that stream, and counts as reached);
 * web push to every device that has a subscription, open or not (an open app may be a background
 * tab: the push is what shows a system notification); when none of them could be reached, one
 * SMS with the link (if the customer has a number and SMS is enabled). Every send is recorded (store.notifications). When nothing at all reached the
 * customer the call fails with `no_reachable_device` so the agent is told at once.
 *
 * Replacement: each device gets its own notification id; a new notification names, in
 * `replaces`, the latest earlier one that reached the same device (or the same phone by SMS) for
 * the same call request, so the app swaps the old card for the new one.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';
import type { Language } from '../domain/language.js';
import type { CallRequest, ChannelName, Device, NotificationKind, NotificationRecord } from '../domain/model.js';
import type { NotifyCustomerArgs } from '../flows/ports.js';
import type { Store } from '../store/store.js';
import type { AppChannel } from './app-channel.js';
import type { DeliveryFailure, DeliveryResult, SmsChannel, WebPushChannel } from './channel.js';
import { buildNotificationPayload, type CustomerNotificationKind } from './notification-payload.js';
import { maskPhone } from './redact.js';

/** The parts of the configuration the notifier reads (a full Config fits). */
export interface NotifierConfig {
  server: Pick<Config['server'], 'publicUrl'>;
  requests: Pick<Config['requests'], 'answerTimeLimitSeconds' | 'remindChoicesMinutes'>;
  notify: { sms: Pick<Config['notify']['sms'], 'enabled'> };
  /** branding.name is the name customers know the bank by; it is the "from Acme" in the text. */
  branding: Pick<Config['branding'], 'name'>;
}

export interface NotifierDeps {
  store: Store;
  channels: { webpush?: WebPushChannel; sms?: SmsChannel; app?: AppChannel };
  config: NotifierConfig;
  logger: Logger;
}

/** The flows' port arguments (one definition), plus what only direct callers set. */
export interface NotifyCustomerInput extends NotifyCustomerArgs {
  /** 'callback_agent' is refused: agents are told through the console, not here. */
  kind: NotificationKind;
  /** Until when the notification is worth showing; see defaultExpiry. */
  expiresAt?: Date;
}

export interface SendOutcome {
  notificationId: string;
  channel: ChannelName;
  deviceId: string | null;
  delivered: boolean;
  failure: DeliveryFailure | null;
  detail: string | null;
}

export interface NotifySummary {
  /** The first notification that reached the customer. */
  notificationId: string;
  /** Channels that reached the customer at least once. */
  delivered: ChannelName[];
  failed: Array<{ channel: ChannelName; deviceId: string | null; detail: string }>;
  sends: SendOutcome[];
}

export interface Notifier {
  /** Throws AppError('no_reachable_device') when no channel reached the customer. */
  notifyCustomer(input: NotifyCustomerInput): Promise<NotifySummary>;
}

/** An "agent has moved on" notice stays useful (scheduling is still open) for a day. */
const EXPIRED_NOTICE_SECONDS = 24 * 60 * 60;
/** "Your callback is starting" is stale once the agent has given up waiting. */
const INCOMING_CALL_NOTICE_SECONDS = 120;

/**
 * A knock or reminder is worth showing until the answer deadline (once that has passed, only
 * scheduling is left, as with an expired notice); an expired notice for a day; a callback prompt
 * for one answer time limit.
 */
function defaultExpiry(kind: CustomerNotificationKind, request: CallRequest, now: Date, config: NotifierConfig): Date {
  switch (kind) {
    case 'knock':
    case 'reminder':
      if (request.answerDeadline > now) return request.answerDeadline;
      return new Date(now.getTime() + EXPIRED_NOTICE_SECONDS * 1000);
    case 'expired':
      return new Date(now.getTime() + EXPIRED_NOTICE_SECONDS * 1000);
    case 'callback_prompt':
      return new Date(now.getTime() + config.requests.answerTimeLimitSeconds * 1000);
    case 'callback_incoming':
      // Only worth showing while the agent waits on the line.
      return new Date(now.getTime() + INCOMING_CALL_NOTICE_SECONDS * 1000);
  }
}

/** The latest earlier notification that reached this target (a device, or SMS when deviceId is null). */
function previousFor(history: NotificationRecord[], channel: ChannelName, deviceId: string | null): string | null {
  for (let i = history.length - 1; i >= 0; i--) {
    const n = history[i]!;
    if (n.status === 'sent' && n.channel === channel && n.deviceId === deviceId && n.kind !== 'callback_agent') return n.id;
  }
  return null;
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const { store, channels, config, logger } = deps;

  async function notifyCustomer(input: NotifyCustomerInput): Promise<NotifySummary> {
    const { request, now } = input;
    const kind = input.kind;
    if (kind === 'callback_agent') {
      throw new AppError('validation_failed', 'callback_agent notifications are for agents; notifyCustomer only sends customer notifications.');
    }
    const log = logger.child({ callRequestId: request.id, kind });
    const customer =
      input.customer?.id === request.customerId ? input.customer : await store.customers.get(request.customerId);
    if (!customer) throw new AppError('not_found', `Customer ${request.customerId} of call request ${request.id} does not exist.`);

    const known = customer === input.customer ? input.devices : undefined;
    const [devices, history] = await Promise.all([
      known ?? store.devices.listForCustomer(customer.id),
      input.history ?? store.notifications.listFor(request.id),
    ]);
    const expiresAt = input.expiresAt ?? defaultExpiry(kind, request, now, config);
    const payloadFor = (notificationId: string, replaces: string | null, language: Language | null) =>
      buildNotificationPayload({
        notificationId,
        replaces,
        kind,
        request,
        agentName: input.agentName,
        companyName: config.branding.name,
        language: language ?? 'en',
        expiresAt,
        remindChoicesMinutes: config.requests.remindChoicesMinutes,
        publicUrl: config.server.publicUrl,
        now,
      });

    /** Records one send, whatever its result, and reports it. */
    async function recordSend(
      notificationId: string,
      channel: ChannelName,
      deviceId: string | null,
      replacesId: string | null,
      result: DeliveryResult,
    ): Promise<SendOutcome> {
      await store.notifications.record({
        id: notificationId,
        callRequestId: request.id,
        kind,
        replacesId,
        channel,
        deviceId,
        status: result.ok ? 'sent' : 'failed',
        error: result.ok ? null : `${result.failure}: ${result.detail}`,
      });
      return {
        notificationId,
        channel,
        deviceId,
        delivered: result.ok,
        failure: result.ok ? null : result.failure,
        detail: result.ok ? null : result.detail,
      };
    }

    async function pushTo(device: Device, webpush: WebPushChannel): Promise<SendOutcome> {
      const notificationId = randomUUID();
      const replaces = previousFor(history, 'webpush', device.id);
      const result = await webpush.send(device.pushSubscription!, payloadFor(notificationId, replaces, device.language), now);
      if (!result.ok && result.failure === 'subscription_gone') {
        // The browser dropped the subscription; forget it so no later notification tries it again.
        await store.devices.setPushSubscription(device.id, null);
        log.info({ deviceId: device.id }, 'push subscription gone; cleared');
      }
      return recordSend(notificationId, 'webpush', device.id, replaces, result);
    }

    const sends: SendOutcome[] = [];
    // The open app first: a device whose app is open on this process is reached over its stream.
    const open = channels.app?.connected(customer.id) ?? new Set<string>();
    const live = devices.filter((d) => d.revokedAt === null && open.has(d.id));
    for (const device of live) {
      const notificationId = randomUUID();
      const replaces = previousFor(history, 'app', device.id);
      sends.push(await recordSend(notificationId, 'app', device.id, replaces, await channels.app!.send(device.id, payloadFor(notificationId, replaces, device.language), now)));
    }
    const subscribed = devices.filter((d) => d.revokedAt === null && d.pushSubscription !== null);
    if (channels.webpush && subscribed.length > 0) {
      const webpush = channels.webpush;
      sends.push(...(await Promise.all(subscribed.map((d) => pushTo(d, webpush)))));
    }

    const reachedOnline = sends.some((s) => s.delivered);
    const smsOn = config.notify.sms.enabled && channels.sms !== undefined;
    if (!reachedOnline && smsOn && customer.phoneE164) {
      const notificationId = randomUUID();
      const replaces = previousFor(history, 'sms', null);
      // The phone is the customer's, not one device's: the language of their (first) app that said one.
      const language = devices.find((d) => d.language !== null)?.language ?? null;
      const result = await channels.sms!.send(customer.phoneE164, payloadFor(notificationId, replaces, language), now);
      sends.push(await recordSend(notificationId, 'sms', null, replaces, result));
    }

    const failed = sends
      .filter((s) => !s.delivered)
      .map((s) => ({ channel: s.channel, deviceId: s.deviceId, detail: s.detail ?? '' }));
    const first = sends.find((s) => s.delivered);
    if (!first) {
      // Honest about what this process cannot do: an app open on another process is not reached.
      const elsewhere = channels.app ? (await channels.app.openAnywhere(customer.id).catch(() => [])).filter((s) => !s.here).length : 0;
      const why = whyUnreachable({
        openElsewhere: elsewhere > 0,
        devices: devices.length,
        subscribed: subscribed.length,
        pushAvailable: channels.webpush !== undefined,
        phone: customer.phoneE164 !== null,
        smsOn,
      });
      log.warn({ failed, why }, 'customer not reachable');
      throw new AppError('no_reachable_device', `The customer could not be notified: ${why}.`, {
        callRequestId: request.id,
        failed,
      });
    }

    const delivered = [...new Set(sends.filter((s) => s.delivered).map((s) => s.channel))];
    log.info(
      {
        delivered,
        sent: sends.filter((s) => s.delivered).length,
        failed: failed.length,
        ...(delivered.includes('sms') && customer.phoneE164 ? { to: maskPhone(customer.phoneE164) } : {}),
      },
      'customer notified',
    );
    return { notificationId: first.notificationId, delivered, failed, sends };
  }

  return { notifyCustomer };
}

/** A sentence the agent can act on: what was missing or what went wrong. */
function whyUnreachable(f: { openElsewhere: boolean; devices: number; subscribed: number; pushAvailable: boolean; phone: boolean; smsOn: boolean }): string {
  const push =
    f.devices === 0
      ? 'no enrolled device'
      : f.subscribed === 0 || !f.pushAvailable
        ? 'no device is open in the app or accepts push notifications'
        : 'no device is open in the app or could be reached by push';
  const sms = !f.phone ? 'no phone number on file' : !f.smsOn ? 'SMS is not enabled' : 'the SMS could not be sent';
  const elsewhere = f.openElsewhere ? ' (the app is open, but connected to another server process, which this one cannot reach yet)' : '';
  return `${push}${elsewhere}, and ${sms}`;
}
