/**
 * Web Push: notifications that arrive while the app is closed. The subscription is made with the
 * service's VAPID public key and handed to the server; the service worker (sw.js) shows what
 * arrives.
 */
import { api } from '../shared/api.js';
import { fromBase64url } from './device-key.js';

const SUBSCRIBE_TIMEOUT_MS = 20_000;

export function pushAvailable() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function withTimeout(promise, ms, message) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms))]);
}

/** Asks for permission, subscribes, and stores the subscription on the server. */
export async function enablePush(credential) {
  if (!pushAvailable()) throw new Error('this browser does not support notifications for web apps');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('notifications are blocked for this app in the browser settings');
  const registration = await navigator.serviceWorker.ready;
  const { publicKey } = await api('/api/v1/push/vapid-public-key');
  const existing = await registration.pushManager.getSubscription();
  const subscription =
    existing ??
    (await withTimeout(
      registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(publicKey) }),
      SUBSCRIBE_TIMEOUT_MS,
      "the browser's push service did not answer",
    ));
  const json = subscription.toJSON();
  await api('/api/v1/devices/me/push-subscription', {
    method: 'PUT',
    token: credential,
    body: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } },
  });
}
