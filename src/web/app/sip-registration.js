/**
 * The app registers for calls, so an adviser's scheduled callback can ring it (SIP over
 * WebSocket, RFC 7118; REGISTER, RFC 3261 §10). Each REGISTER carries a fresh single-use
 * registration token from POST /api/v1/devices/me/sip-registration as `Authorization: Bearer`
 * (RFC 8898) and the device key's `Knock-Device-Proof` over the token's jti, the REGISTER's
 * Call-ID, From tag and Contact URI (a REGISTER's own proof context, so a token and proof seen on
 * the wire cannot register another Contact; the connection itself is wss:// in production). The registration is refreshed before it expires (each refresh
 * with a new token) and removed when the app stops needing it.
 *
 * An INVITE that arrives on this registration is a callback ringing: `onIncoming` gets who is
 * calling (X-Knock-Agent), the case (X-Knock-Reference), the request (X-Knock-Request) and the
 * Replaces value the answer must carry (incoming-call.js answers with a new, verified INVITE),
 * and later why the ringing stopped: `onCancel(fn)` calls fn(elsewhere) with elsewhere true when
 * the server said another device answered (RFC 3326 Reason cause=200).
 */

import { SIP_JS, userAgentOptions } from './call.js';
import { signRegisterProof } from './device-key.js';
import { t } from './i18n.js';

/** Registration lifetime asked for; refreshed at half of it with a fresh token. */
const EXPIRES_SECONDS = 300;

/**
 * @param {{ call: (path: string, opts?: any) => Promise<any>, device: { keyPair: CryptoKeyPair } }} app
 * @param {{ onIncoming: (incoming: IncomingCallback) => void }} opts
 * @returns {{ stop: () => Promise<void> }}
 *
 * @typedef {{ requestId: string, agentName: string, reference: string, replaces: string,
 *   invitation: any, onCancel: (fn: (elsewhere: boolean) => void) => void }} IncomingCallback
 */
export function startSipRegistration(app, opts) {
  let SIP = null;
  let ua = null;
  let registerer = null;
  let timer = null;
  let stopped = false;
  let registered = false;

  /**
   * The headers for one REGISTER (or the de-registration): a fresh token (`issued`, when the
   * caller already has one unspent) and this REGISTER's proof.
   */
  async function signedHeaders(issued = null) {
    issued ??= await app.call('/api/v1/devices/me/sip-registration', { method: 'POST' });
    // sip.js keeps one Call-ID and From tag for the registration and sends its user agent's
    // contact URI (`<uri>` plus parameters outside the brackets): the proof is signed over them.
    const request = registerer.request;
    const proof = await signRegisterProof(app.device.keyPair, {
      token: issued.token,
      callId: request.callId,
      fromTag: request.from.parameters.tag,
      contact: String(ua.contact.uri),
    });
    return { issued, extraHeaders: [`Authorization: Bearer ${issued.token}`, `Knock-Device-Proof: ${proof}`] };
  }

  /** The first REGISTER spends the token fetched to learn the AOR and WebSocket URL. */
  let firstToken = null;

  async function refresh() {
    if (stopped) return;
    try {
      // Unless connecting took so long that it is about to expire.
      const unspent = firstToken && new Date(firstToken.expiresAt).getTime() - Date.now() > 5000 ? firstToken : null;
      firstToken = null;
      const { extraHeaders } = await signedHeaders(unspent);
      await registerer.register({
        requestOptions: { extraHeaders },
        requestDelegate: {
          onAccept: () => {
            registered = true;
          },
          onReject: () => {
            registered = false;
          },
        },
      });
    } catch {
      // No token or no connection this time: the next refresh tries again.
    }
    if (!stopped) timer = setTimeout(refresh, (EXPIRES_SECONDS / 2) * 1000);
  }

  function onInvite(invitation) {
    const req = invitation.request;
    const requestId = req.getHeader('X-Knock-Request');
    if (!requestId) {
      invitation.reject({ statusCode: 404 }).catch(() => {});
      return;
    }
    invitation.progress().catch(() => {});
    // Our tag is the one sip.js puts in its provisional answers (the early dialog's To tag).
    const toTag = invitation.incomingInviteRequest?.toTag ?? '';
    const cancelled = new Set();
    let elsewhere = false;
    invitation.delegate = {
      onCancel: (cancel) => {
        elsewhere = /;\s*cause\s*=\s*200\b/i.test(cancel.request.getHeader('Reason') || '');
      },
    };
    invitation.stateChange.addListener((state) => {
      if (state === SIP.SessionState.Terminated) for (const fn of cancelled) fn(elsewhere);
    });
    opts.onIncoming({
      requestId,
      agentName: req.getHeader('X-Knock-Agent') || t('incoming.yourAdviser'),
      reference: req.getHeader('X-Knock-Reference') || '',
      replaces: `${req.callId};to-tag=${toTag};from-tag=${req.fromTag}`,
      invitation,
      onCancel: (fn) => cancelled.add(fn),
    });
  }

  (async () => {
    try {
      SIP = await import(SIP_JS);
      const first = await app.call('/api/v1/devices/me/sip-registration', { method: 'POST' }).catch(() => null);
      if (!first || stopped) return;
      const aor = SIP.UserAgent.makeURI(first.aor);
      // No microphone here: ringing needs none; answering places its own call (call.js).
      ua = new SIP.UserAgent(userAgentOptions(SIP, { wsUrl: first.wsUrl, uri: aor, microphone: null, delegate: { onInvite } }));
      await ua.start();
      registerer = new SIP.Registerer(ua, { expires: EXPIRES_SECONDS });
      firstToken = first;
      await refresh();
    } catch {
      // sip.js or the call server unavailable: no ringing on this page until the next start.
    }
  })();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      try {
        if (registerer && registered) {
          const { extraHeaders } = await signedHeaders();
          await registerer.unregister({ requestOptions: { extraHeaders } });
        }
      } catch {
        // leaving anyway: the registration expires on its own
      }
      registered = false;
      await Promise.resolve(ua?.stop()).catch(() => {});
    },
  };
}

/** Register this long before a scheduled callback (the adviser may call a little early). */
const LEAD_MS = 10 * 60_000;

/**
 * The app's policy: registered while one of the customer's callbacks is scheduled within the
 * next few minutes (or overdue), or after a "callback.incoming" push woke it (`wake()`);
 * de-registered when none is left and when the page goes away.
 *
 * @param {any} app  the app context (main.js): call(), device, onRequestsChanged()
 * @param {{ onIncoming: (incoming: IncomingCallback) => void }} opts
 */
export function registerWhenCallbackDue(app, opts) {
  let registration = null;
  let recheck = null;
  let wokenUntil = 0;
  // A callback's request leaves "scheduled" for a moment (due) before it is dialled: stay
  // registered a while after the last reason to be, rather than flapping.
  let keepUntil = 0;

  async function update() {
    clearTimeout(recheck);
    if (!app.device) return;
    let items = [];
    try {
      items = (await app.call('/api/v1/app/requests')).items ?? [];
    } catch {
      return;
    }
    const now = Date.now();
    const next = items
      .filter((r) => r.state === 'scheduled' && r.scheduledFor)
      .map((r) => new Date(r.scheduledFor).getTime())
      .sort((a, b) => a - b)[0];
    const dialling = items.some((r) => r.state === 'agent_dialled');
    if (dialling || now < wokenUntil || (next !== undefined && next - now <= LEAD_MS)) keepUntil = now + LEAD_MS;
    const wanted = now < keepUntil;
    if (wanted && !registration) registration = startSipRegistration(app, { onIncoming: opts.onIncoming });
    if (!wanted && registration) {
      const r = registration;
      registration = null;
      await r.stop();
    }
    // Check again when the next callback comes within reach.
    if (next !== undefined && next - now > LEAD_MS) recheck = setTimeout(update, Math.min(next - now - LEAD_MS, 2 ** 31 - 1));
    else if (wanted) recheck = setTimeout(update, keepUntil - now + 1000);
  }

  app.onRequestsChanged(() => void update());
  window.addEventListener('pagehide', () => {
    void registration?.stop();
    registration = null;
  });
  void update();
  return {
    /** A "callback.incoming" push: the adviser is dialling now. */
    wake() {
      wokenUntil = Date.now() + 2 * 60_000;
      void update();
    },
  };
}
