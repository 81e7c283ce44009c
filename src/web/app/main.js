/**
 * The customer app: a small hash router over a few screens, the device's live channel, and the
 * service worker (Web Push). Screens live in views/; each gets the `app` context below.
 *
 * Live channel choice: Server-Sent Events from GET /api/v1/app/events, read with fetch() so the
 * device credential stays in the Authorization header. Every change of one of the customer's
 * requests arrives as `request.changed`; screens re-read what they show. After a reconnect they
 * re-read everything, since missed events are not replayed.
 *
 * The same channel carries `notification`: while the app is open the server counts it as
 * reaching the customer (with notifications denied, or no Web Push at all), so the app shows it
 * in the page as a notice with a link to the request.
 */
import { api, ApiError } from '../shared/api.js';
import { applyBrand, branding } from '../shared/branding.js';
import { errorBox, focusHeading, h, replace } from '../shared/dom.js';
import { openEventStream } from '../shared/event-stream.js';
import { errorText, t } from './i18n.js';
import { showIncomingCall } from './incoming-call.js';
import { registerWhenCallbackDue } from './sip-registration.js';
import { forgetDevice, loadDevice, saveDevice } from './storage.js';
import { showCall } from './views/call-screen.js';
import { showEnrol } from './views/enrol.js';
import { showHome, showRequest } from './views/requests.js';
import { showSchedule } from './views/schedule.js';
import { showSettings } from './views/settings.js';
import { showVerify } from './views/verify.js';

const main = document.getElementById('main');
const liveStatus = document.getElementById('live-status');
const notices = document.getElementById('in-app-notices');
const settingsLink = document.getElementById('settings-link');

const listeners = new Set();
let stream = null;
let cleanup = null;
let firstRender = true;

/** The context every screen gets. */
const app = {
  /** @type {import('./storage.js').StoredDevice|null} */
  device: null,
  /** What the server says this device has set up: { passkey, pin, push }. */
  info: null,
  /** The customer's time zone once the server told us (schedule screen); else the device's. */
  get timeZone() {
    return app.device?.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
  },
  /** The credential for the call screen; kept in memory only, never stored. */
  handoff: null,
  /** Calls the API as this device. */
  call(path, opts = {}) {
    return api(path, { ...opts, token: app.device?.credential });
  },
  go(path) {
    if (location.hash === `#${path}`) route();
    else location.hash = `#${path}`;
  },
  /** Runs `fn(change)` on every change of the customer's requests (null = re-read everything). */
  onRequestsChanged(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  async setDevice(device) {
    app.device = device;
    if (device) await saveDevice(device);
    startLive();
  },
  async refreshInfo() {
    if (!app.device) return null;
    app.info = await app.call('/api/v1/devices/me');
    return app.info;
  },
  async saveTimeZone(zone) {
    if (!app.device || app.device.timeZone === zone) return;
    app.device = { ...app.device, timeZone: zone };
    await saveDevice(app.device);
  },
};

function notify(change) {
  for (const fn of [...listeners]) {
    try {
      fn(change);
    } catch (e) {
      console.error(e);
    }
  }
}

function startLive() {
  stream?.close();
  stream = null;
  settingsLink.hidden = !app.device;
  if (!app.device) {
    liveStatus.hidden = true;
    return;
  }
  stream = openEventStream('/api/v1/app/events', {
    token: app.device.credential,
    onEvent: (type, data) => {
      if (type === 'request.changed') {
        dropStaleNotice(data);
        notify(data);
      }
      if (type === 'notification') showNotice(data);
    },
    onStatus: async (status) => {
      liveStatus.hidden = false;
      liveStatus.dataset.status = status;
      liveStatus.textContent = status === 'live' ? t('app.live') : status === 'reconnecting' ? t('app.reconnecting') : t('app.signedOut');
      if (status === 'live') notify(null);
      if (status === 'unauthorized') await deviceRemoved();
    },
  });
}

/** A notification that came over the live channel: one notice per request, the newest replacing older ones. */
function showNotice(p) {
  if (!notices || !p?.callRequestId) return;
  notices.querySelector(`[data-request-id="${CSS.escape(p.callRequestId)}"]`)?.remove();
  const close = h('button', { type: 'button', class: 'link' }, t('notice.dismiss'));
  const notice = h(
    'div',
    { class: 'message info in-app-notice', role: 'status', 'data-request-id': p.callRequestId, 'data-kind': p.kind },
    h('strong', null, p.title),
    h('p', null, p.body),
    h('p', null, h('a', { class: 'button primary', href: `#/requests/${p.callRequestId}` }, t('notice.open')), ' ', close),
  );
  close.addEventListener('click', () => notice.remove());
  notice.querySelector('a').addEventListener('click', () => notice.remove());
  notices.prepend(notice);
}

/**
 * The request states each kind of notice speaks of. A change to any other state (cancelled as
 * superseded by a new knock, answered on another device, ended, scheduled) makes the notice's
 * words untrue, so it goes; the request's card shows what is true now.
 */
const NOTICE_STATES = {
  // A change event can arrive after the notice it led to (requested → notified, snoozed → reminded).
  knock: ['requested', 'notified'],
  reminder: ['snoozed', 'notified'],
  expired: ['notified', 'snoozed', 'expired'],
  callback_prompt: ['prompted'],
  callback_incoming: ['due', 'agent_dialled'],
};

function dropStaleNotice(change) {
  if (!notices || !change?.requestId || !change.state) return;
  const notice = notices.querySelector(`[data-request-id="${CSS.escape(change.requestId)}"]`);
  const fits = NOTICE_STATES[notice?.dataset.kind] ?? ['notified', 'snoozed', 'expired', 'prompted', 'due', 'agent_dialled'];
  if (notice && !fits.includes(change.state)) notice.remove();
}

async function deviceRemoved() {
  stream?.close();
  stream = null;
  await forgetDevice();
  app.device = null;
  app.info = null;
  app.go('/enrol');
}

const ROUTES = [
  [/^\/?$/, showHome],
  [/^\/enrol$/, showEnrol],
  [/^\/settings$/, showSettings],
  [/^\/requests\/([0-9a-f-]{36})$/i, showRequest],
  [/^\/requests\/([0-9a-f-]{36})\/verify$/i, showVerify],
  [/^\/requests\/([0-9a-f-]{36})\/schedule$/i, showSchedule],
  [/^\/requests\/([0-9a-f-]{36})\/call$/i, showCall],
];

async function route() {
  const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  if (!app.device && path !== '/enrol') {
    app.go('/enrol');
    return;
  }
  const match = ROUTES.map(([re, view]) => [re.exec(path), view]).find(([m]) => m);
  cleanup?.();
  cleanup = null;
  const root = h('div', { class: 'view' });
  replace(main, root);
  if (!match) {
    replace(root, h('h1', null, t('app.notFound')), h('p', null, h('a', { href: '#/' }, t('app.toRequests'))));
  } else {
    const [m, view] = match;
    try {
      cleanup = (await view(app, m.slice(1), root)) || null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        await deviceRemoved();
        return;
      }
      replace(root, h('h1', null, t('app.wentWrong')), errorBox(errorText(e)), h('p', null, h('a', { href: '#/' }, t('app.toRequests'))));
    }
  }
  if (!firstRender) focusHeading(root);
  firstRender = false;
}

let callbacks = null;

/** A callback rings: the incoming-call screen replaces whatever was shown. */
function showIncoming(incoming) {
  cleanup?.();
  const root = h('div', { class: 'view' });
  replace(main, root);
  cleanup = showIncomingCall(app, root, incoming);
}

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('sw.js', { scope: './' });
  } catch (e) {
    console.warn('service worker not registered', e);
  }
  // A tap on a notification while the app is open: the worker asks this page to show the screen.
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'open' && typeof event.data.path === 'string') app.go(event.data.path);
    if (event.data?.type === 'push') notify({ requestId: event.data.callRequestId });
    if (event.data?.type === 'push' && event.data.kind === 'callback_incoming') callbacks?.wake();
  });
}

/** The page's fixed text and the bank's name, in the chosen language (the HTML holds English for the first paint). */
function dressPage() {
  document.title = t('app.title');
  document.querySelector('meta[name="description"]')?.setAttribute('content', t('app.description'));
  document.querySelector('.skip-link').textContent = t('app.skip');
  settingsLink.textContent = t('app.settings');
  applyBrand(document.querySelector('.topbar .brand'), branding.name);
}

async function start() {
  dressPage();
  await registerServiceWorker();
  app.device = await loadDevice().catch(() => null);
  if (app.device) {
    try {
      await app.refreshInfo();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) await deviceRemoved();
    }
  }
  startLive();
  // Scheduled callbacks in "agent calls" mode ring the app: registered while one is due.
  callbacks = registerWhenCallbackDue(app, { onIncoming: showIncoming });
  window.addEventListener('hashchange', route);
  await route();
  document.documentElement.dataset.ready = 'true';
}

start();
