/**
 * The app's service worker: shows call requests that arrive by Web Push while the app is closed,
 * and acts on the notification's buttons.
 *
 * The push payload is the server's NotificationPayload (src/notify/notification-payload.ts): the
 * adviser's name, reference, reason, the answers still allowed and a link. One notification per
 * call request (tag), so an "agent has moved on" push replaces the knock with a schedule-only one.
 *
 * Buttons: Accept and Schedule open the app on that screen (the biometric needs the page);
 * "Remind me" answers from here, with the first remind-me-later choice, using the device
 * credential the app stored in IndexedDB.
 */
/* eslint-env serviceworker */

const DB_NAME = 'knock-app';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/**
 * The words of the app's catalogue (messages/*.json, the language the browser prefers, English
 * as the fallback; i18n.js does the same for the pages) and the bank's name, read once per
 * worker. The title and body of a push come in the device's language from the server.
 */
let wordsLoaded = null;
function words() {
  wordsLoaded ??= (async () => {
    const json = (url) => fetch(url).then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
    const language = (self.navigator.languages || ['en']).map((tag) => String(tag).toLowerCase().split('-')[0]).find((l) => ['en', 'de'].includes(l)) || 'en';
    const [en, own, branding] = await Promise.all([json('messages/en.json'), language === 'en' ? {} : json(`messages/${language}.json`), json('/api/v1/branding')]);
    return { messages: { ...en, ...own }, bank: branding.name || 'Knock', locale: language };
  })();
  return wordsLoaded;
}

function t(w, key, vars = {}) {
  const all = { bank: w.bank, ...vars };
  return (w.messages[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in all ? String(all[name]) : m));
}

/** The count's plural form (`key.one`, `key.other`, …) as i18n.js's tn() picks it. */
function tn(w, key, n) {
  const form = `${key}.${new Intl.PluralRules(w.locale).select(n)}`;
  return t(w, form in w.messages ? form : `${key}.other`, { n });
}

function durationText(w, minutes) {
  if (minutes % 1440 === 0) return tn(w, 'time.days', minutes / 1440);
  if (minutes % 60 === 0) return tn(w, 'time.hours', minutes / 60);
  return tn(w, 'time.minutes', minutes);
}

/** The notification for one payload. */
function notificationFor(w, p) {
  const actions = [];
  if (p.actions?.accept) actions.push({ action: 'accept', title: t(w, p.kind === 'callback_prompt' ? 'sw.placeCall' : 'sw.accept') });
  if (p.actions?.schedule) actions.push({ action: 'schedule', title: t(w, p.actions?.accept ? 'sw.schedule' : 'sw.scheduleCall') });
  if (p.actions?.snooze && p.remindChoicesMinutes?.length) actions.push({ action: 'snooze', title: t(w, 'sw.remindIn', { duration: durationText(w, p.remindChoicesMinutes[0]) }) });
  const max = self.Notification?.maxActions ?? 2;
  return {
    title: p.title,
    options: {
      body: `${p.body}\n${t(w, 'sw.reason', { reason: p.reason })}`,
      tag: `call-request-${p.callRequestId}`,
      renotify: true,
      requireInteraction: Boolean(p.actions?.accept),
      icon: 'icon.svg',
      badge: 'icon.svg',
      timestamp: Date.now(),
      actions: actions.slice(0, max),
      data: {
        callRequestId: p.callRequestId,
        notificationId: p.notificationId,
        kind: p.kind,
        agentName: p.agentName,
        reference: p.reference,
        reason: p.reason,
        actions: p.actions,
        remindChoicesMinutes: p.remindChoicesMinutes,
        expiresAt: p.expiresAt,
      },
    },
  };
}

self.addEventListener('push', (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload || !payload.callRequestId) {
    event.waitUntil(words().then((w) => self.registration.showNotification(w.bank, { body: t(w, 'sw.generic'), tag: 'knock-generic' })));
    return;
  }
  event.waitUntil(
    (async () => {
      const { title, options } = notificationFor(await words(), payload);
      await self.registration.showNotification(title, options);
      // An open app refreshes at once (its live channel would too; this covers a lost connection).
      for (const client of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
        client.postMessage({ type: 'push', callRequestId: payload.callRequestId, kind: payload.kind });
      }
    })(),
  );
});

function readCredential() {
  return new Promise((resolve) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('device');
    req.onerror = () => resolve(null);
    req.onsuccess = () => {
      const db = req.result;
      const get = db.transaction('device', 'readonly').objectStore('device').get('this');
      get.onsuccess = () => {
        db.close();
        resolve(get.result?.credential ?? null);
      };
      get.onerror = () => {
        db.close();
        resolve(null);
      };
    };
  });
}

/** Remind me later from the notification: true when the server took it. */
async function snoozeFromNotification(data) {
  const credential = await readCredential();
  const minutes = data.remindChoicesMinutes?.[0];
  if (!credential || !minutes) return false;
  const res = await fetch(new URL(`../api/v1/app/requests/${data.callRequestId}/snooze`, self.registration.scope), {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ minutes }),
  }).catch(() => null);
  if (!res || !res.ok) return false;
  const view = await res.json();
  const w = await words();
  const at = new Date(view.snoozeUntil).toLocaleTimeString(w.locale, { hour: '2-digit', minute: '2-digit' });
  await self.registration.showNotification(t(w, 'sw.reminderSet', { ref: data.reference }), {
    body: t(w, 'sw.reminderBody', { agent: data.agentName, time: at }),
    tag: `call-request-${data.callRequestId}`,
    silent: true,
    data,
  });
  return true;
}

/** Opens (or focuses) the app on the screen for this answer; `path` null keeps its screen. */
async function openApp(path) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const existing = windows.find((w) => w.url.startsWith(self.registration.scope));
  if (existing) {
    if (path !== null) existing.postMessage({ type: 'open', path });
    try {
      await existing.focus();
    } catch {
      // Focus needs the click's user activation; the screen is shown either way.
    }
    return;
  }
  await self.clients.openWindow(new URL(`./#${path ?? '/'}`, self.registration.scope).href);
}

async function handleClick(action, data) {
  // A callback ringing in a background tab (incoming-call.js): back to its incoming-call screen.
  if (data?.kind === 'incoming_call') return openApp(null);
  const id = data?.callRequestId;
  if (!id) return openApp('/');
  if (action === 'snooze' && (await snoozeFromNotification(data))) return;
  if (action === 'accept') return openApp(`/requests/${id}/verify`);
  if (action === 'schedule') return openApp(`/requests/${id}/schedule`);
  return openApp(`/requests/${id}`);
}

// Reachable from outside for the browser tests: a notification button cannot be pressed by a
// headless browser, and a synthetic notificationclick event cannot use waitUntil.
self.knockNotificationClick = handleClick;

self.addEventListener('notificationclick', (event) => {
  const { action, notification } = event;
  notification.close();
  event.waitUntil(handleClick(action, notification.data));
});
