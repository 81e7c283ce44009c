/**
 * The port between the notifier and the ways a customer can be reached. A channel sends one
 * notification to one target and reports what happened; it never throws for a delivery problem,
 * so the notifier can try the next device or fall back to SMS.
 */
import type { ChannelName, PushSubscription } from '../domain/model.js';
import type { NotificationPayload } from './notification-payload.js';

/**
 * Why a send did not reach its target:
 * - subscription_gone: the push service says the subscription no longer exists (404/410);
 *   the caller should forget it (store.devices.setPushSubscription(id, null)).
 * - rejected: the provider answered with an error (bad recipient, bad credentials, 5xx, …).
 * - unreachable: no answer at all (connection refused, DNS, timeout).
 */
export type DeliveryFailure = 'subscription_gone' | 'rejected' | 'unreachable';

export type DeliveryResult =
  | { ok: true; /** The provider's id for the message, when it gives one (Twilio "SM…"). */ providerId: string | null }
  | {
      ok: false;
      failure: DeliveryFailure;
      /** For people reading logs and the agent console; never contains secrets. */
      detail: string;
    };

export interface NotificationChannel<Target> {
  readonly name: ChannelName;
  /** `now` sets how long the message stays worth delivering (until payload.expiresAt). */
  send(target: Target, payload: NotificationPayload, now: Date): Promise<DeliveryResult>;
}

/** Sends to one device's Web Push subscription. */
export interface WebPushChannel extends NotificationChannel<PushSubscription> {
  readonly name: 'webpush';
  /** Stops sending (the sender thread ends); sends still in flight, and later ones, fail `unreachable`. */
  close(): Promise<void>;
}

/** Sends a text with the link to one phone number (E.164). */
export interface SmsChannel extends NotificationChannel<string> {
  readonly name: 'sms';
}
