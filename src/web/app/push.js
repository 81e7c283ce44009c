/**
 * Web Push: notifications that arrive while the app is closed. The subscription is made with the
 * service's VAPID public key and handed to the server; the service worker (sw.js) shows what
 * arrives.
 */
import { api } from '../shared/api.js';
import { fromBase64url } from './device-key.js';
import { appError } from './i18n.js';

const SUBSCRIBE_TIMEOUT_MS = 20_000;

export function pushAvailable() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function withTimeout(promise, ms, error) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(error), ms))]);
}

/** Asks for permission, subscribes, and stores the subscription on the server. */
export async function enablePush(credential) {
  if (!pushAvailable()) throw appError('push.unsupported');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw appError('push.blocked');
  const registration = await navigator.serviceWorker.ready;
  const { publicKey } = await api('/api/v1/push/vapid-public-key');
  const existing = await registration.pushManager.getSubscription();
  const subscription =
    existing ??
    (await withTimeout(
      registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(publicKey) }),
      SUBSCRIBE_TIMEOUT_MS,
      appError('push.noAnswer'),
    ).catch((err) => {
      // The browser's own message is in the browser's language, not the app's.
      throw err?.messageKey ? err : appError('push.refused');
    }));
  const json = subscription.toJSON();
  await api('/api/v1/devices/me/push-subscription', {
    method: 'PUT',
    token: credential,
    body: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } },
  });
}
