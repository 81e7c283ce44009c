/**
 * The agent console: sign-in, then one workspace (the call screen while a customer call rings or
 * is connected, request a call, the agent's requests live, scheduled callbacks, queues, call
 * history) with availability in the header.
 *
 * Live state: Server-Sent Events from GET /api/v1/events, read with fetch() so the sign-in token
 * travels in the Authorization header, never in a URL (URLs are logged). After every reconnect
 * the panels re-read their lists, since missed events are not replayed.
 *
 * The sign-in token is kept in sessionStorage: it ends with the browser tab.
 */
import { api, ApiError } from '../shared/api.js';
import { applyBrand, branding } from '../shared/branding.js';
import { announce, errorBox, focusHeading, h, replace, setBusy } from '../shared/dom.js';
import { openEventStream } from '../shared/event-stream.js';
import { callScreen } from './panels/call-screen.js';
import { callbacksPanel } from './panels/callbacks.js';
import { historyPanel } from './panels/history.js';
import { queuesPanel } from './panels/queues.js';
import { requestCallPanel } from './panels/request-call.js';
import { requestsPanel } from './panels/requests.js';

const SESSION_KEY = 'knock-console';
const topbar = document.getElementById('topbar');
const main = document.getElementById('main');

let stream = null;

const consoleApp = {
  token: null,
  agent: null,
  customers: new Map(),
  call(path, opts = {}) {
    return api(path, { ...opts, token: consoleApp.token }).catch((e) => {
      if (e instanceof ApiError && e.status === 401) signOut('Your sign-in has ended. Please sign in again.');
      throw e;
    });
  },
  /** A customer's name for lists (cached; the API gives ids). */
  async customerName(id) {
    if (!consoleApp.customers.has(id)) {
      consoleApp.customers.set(
        id,
        consoleApp.call(`/api/v1/customers/${id}`).then((c) => c.name, () => 'Unknown customer'),
      );
    }
    return consoleApp.customers.get(id);
  },
};

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: consoleApp.token, agent: consoleApp.agent }));
}

function signOut(message) {
  const token = consoleApp.token;
  stream?.close();
  stream = null;
  consoleApp.token = null;
  consoleApp.agent = null;
  sessionStorage.removeItem(SESSION_KEY);
  if (token) api('/api/v1/auth/logout', { method: 'POST', token }).catch(() => {});
  showSignIn(message);
}

/** The header's brand: the bank's logo and name (branding.* in the service's configuration). */
function brand() {
  const el = h('span', { class: 'brand' });
  applyBrand(el, `${branding.name} console`);
  return el;
}

function showSignIn(message) {
  replace(topbar, brand());
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('div');
  const form = h(
    'form',
    { class: 'card signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    message ? h('p', { class: 'message info', role: 'status' }, message) : null,
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Sign in')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(error);
    if (!username.value.trim() || !password.value) {
      replace(error, errorBox('Enter your username and password.'));
      return;
    }
    setBusy(form, true);
    try {
      const res = await api('/api/v1/auth/login', { method: 'POST', body: { username: username.value.trim(), password: password.value } });
      consoleApp.token = res.token;
      consoleApp.agent = res.agent;
      saveSession();
      showWorkspace();
    } catch (e) {
      replace(error, errorBox(e.message));
      password.value = '';
      password.focus();
    } finally {
      setBusy(form, false);
    }
  });
  replace(main, h('div', { class: 'page' }, form));
  username.focus();
}

function availabilityControl() {
  const fieldset = h('fieldset', { class: 'availability' }, h('legend', null, 'Status'));
  const msg = h('span', { class: 'visually-hidden', role: 'status' });
  // Available without a registered desk phone: customer calls would reach nobody; said, not hidden.
  const warning = h('p', { class: 'message warn desk-phone-warning', role: 'alert', hidden: true });
  const warn = (agent) => {
    warning.hidden = !agent.warning;
    warning.textContent = agent.warning || '';
  };
  const radios = {};
  for (const [value, label] of [
    ['available', 'Available'],
    ['away', 'Away'],
  ]) {
    const input = h('input', { type: 'radio', name: 'availability', value, class: 'visually-hidden' });
    radios[value] = input;
    input.addEventListener('change', async () => {
      try {
        const agent = await consoleApp.call('/api/v1/me/availability', { method: 'PUT', body: { availability: value } });
        consoleApp.agent = agent;
        saveSession();
        warn(agent);
        msg.textContent = agent.warning ? `You are ${label.toLowerCase()}, but no desk phone is registered.` : `You are ${label.toLowerCase()}.`;
      } catch (e) {
        msg.textContent = e.message;
        set(consoleApp.agent.availability);
      }
    });
    fieldset.append(h('label', null, input, h('span', null, label)));
  }
  // Busy (on a call) and offline (no desk phone registered) are set by the SIP side, not here.
  const other = h('span', { class: 'badge' });
  let phone = consoleApp.agent.phone;
  const set = (availability, phoneNow) => {
    if (phoneNow) phone = phoneNow;
    for (const [value, input] of Object.entries(radios)) input.checked = value === availability;
    other.hidden = availability === 'available' || availability === 'away';
    const offline = phone === 'unreachable' ? 'Offline — desk phone unreachable' : 'Offline — no desk phone';
    other.textContent = availability === 'busy' ? 'On a call' : availability === 'offline' ? offline : availability;
  };
  fieldset.append(other);
  set(consoleApp.agent.availability);
  warn(consoleApp.agent);
  fieldset.append(msg);
  /** The desk phone may have registered or gone since: ask again. */
  const recheck = () =>
    consoleApp.call('/api/v1/me').then(
      (agent) => {
        consoleApp.agent = agent;
        warn(agent);
      },
      () => {},
    );
  return { el: fieldset, warning, set, recheck };
}

async function showWorkspace() {
  let me;
  try {
    me = await consoleApp.call('/api/v1/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // signed out by call()
    const retry = h('button', { type: 'button', class: 'primary' }, 'Try again');
    retry.addEventListener('click', () => showWorkspace());
    replace(main, h('div', { class: 'page' }, h('h1', null, 'The console could not load'), errorBox(e.message), h('div', { class: 'actions' }, retry)));
    return;
  }
  consoleApp.agent = me;
  saveSession();

  const availability = availabilityControl();
  const live = h('span', { class: 'live-dot', 'data-status': 'reconnecting', role: 'status' }, 'Connecting…');
  const signOutButton = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOutButton.addEventListener('click', () => signOut('You have signed out.'));
  replace(
    topbar,
    brand(),
    h('span', { class: 'who' }, `${me.name} · ext. ${me.extension}`),
    availability.el,
    live,
    signOutButton,
  );

  const requests = requestsPanel(consoleApp);
  const requestCall = requestCallPanel(consoleApp, { onRequested: (r) => requests.upsert(r) });
  const callbacks = callbacksPanel(consoleApp, { onStarted: () => requests.refresh() });
  const onCall = callScreen(consoleApp);
  const queues = queuesPanel(consoleApp);
  const history = historyPanel(consoleApp);

  replace(
    main,
    h(
      'nav',
      { class: 'section-nav', 'aria-label': 'Sections' },
      h('a', { href: '#request-call' }, 'Request a call'),
      h('a', { href: '#requests' }, 'Your requests'),
      h('a', { href: '#callbacks' }, 'Scheduled callbacks'),
      h('a', { href: '#queues' }, 'Queues'),
      h('a', { href: '#history' }, 'Call history'),
    ),
    availability.warning,
    h('div', { class: 'workspace' }, h('div', { class: 'side' }, requestCall.el, queues.el), h('div', { class: 'wide' }, onCall.el, requests.el, callbacks.el, history.el)),
  );
  focusHeading(requestCall.el);

  const refreshAll = () => Promise.allSettled([onCall.refresh(), requests.refresh(), callbacks.refresh(), queues.refresh(), history.refresh()]);
  let pending = null;
  const refreshSoon = () => {
    // Several events often arrive together (a knock is created and notified at once).
    clearTimeout(pending);
    pending = setTimeout(() => Promise.allSettled([callbacks.refresh(), queues.refresh(), history.refresh()]), 250);
  };

  stream?.close();
  stream = openEventStream('/api/v1/events', {
    token: consoleApp.token,
    onEvent: async (type, data) => {
      if (type === 'request.changed') {
        const label = await requests.changed(data.requestId);
        if (label) announce(label);
        refreshSoon();
      } else if (type === 'agent.changed' && data.agentId === consoleApp.agent.id) {
        availability.set(data.availability, data.phone);
        availability.recheck();
      } else if (type.startsWith('call.') || type === 'transfer.changed') {
        // Supervisors receive everyone's events; the call screen is the signed-in agent's own.
        if (data.agentId === consoleApp.agent.id) onCall.onEvent(type, data);
        if (type === 'call.ended') refreshSoon();
      }
    },
    onStatus: (status) => {
      live.dataset.status = status;
      live.textContent = status === 'live' ? 'Live' : status === 'reconnecting' ? 'Reconnecting…' : 'Signed out';
      if (status === 'live') {
        refreshAll();
        availability.recheck();
      }
      if (status === 'unauthorized') signOut('Your sign-in has ended. Please sign in again.');
    },
  });
  document.documentElement.dataset.ready = 'true';
}

function start() {
  document.title = `${branding.name} console`;
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    if (saved?.token) {
      consoleApp.token = saved.token;
      consoleApp.agent = saved.agent;
      showWorkspace();
      return;
    }
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
  }
  showSignIn();
  document.documentElement.dataset.ready = 'true';
}

start();
