/**
 * The customer's call: sip.js over WebSocket to the SIP server, audio only (WebRTC: Opus, ICE,
 * DTLS-SRTP, through sip.js's own Web session description handler), with the pre-authentication
 * token in the INVITE as `Authorization: Bearer <token>` (RFC 8898) and the device key's proof
 * of possession as `Knock-Device-Proof` (signed over the token's jti, the Call-ID and the From
 * tag, so a copied token is useless on another device or call). The SIP server checks both at
 * call setup and answers 403 with a Warning and a Reason naming why when it refuses.
 *
 * sip.js is loaded only when a call is placed (its ES modules are served at /vendor/sip.js/).
 * Every way a call can fail ends in one sentence for the customer (`onFailed(reason)`). An
 * answer to a callback ringing the app is placed here too (a new INVITE with Replaces), and the
 * ringing registration (sip-registration.js) shares the user agent's options.
 */

import { signCallProof } from './device-key.js';
import { language, t } from './i18n.js';

export const SIP_JS = '/vendor/sip.js/index.js';
const CONNECT_TIMEOUT_SECONDS = 10;

/** Why the server refused the token, as the customer should hear it (codes from the server's Warning/Reason). */
const TOKEN_REASONS = {
  token_missing: t('reason.tokenMissing'),
  token_invalid: t('reason.tokenInvalid'),
  token_expired: t('reason.tokenExpired'),
  token_replayed: t('reason.tokenReplayed'),
  token_misbound: t('reason.tokenMisbound'),
};

/** The 481 answer to a ringing callback: the incoming-call screen tells it apart by this. */
export const STOPPED_WAITING = t('reason.stoppedWaiting');

/** SIP status codes (RFC 3261 §21) in words. */
function statusReason(code, phrase) {
  if (code === 401) return TOKEN_REASONS.token_missing;
  if (code === 403) return t('reason.refused');
  if (code === 404 || code === 480) return t('reason.noAdviser');
  if (code === 408) return t('reason.timeout');
  if (code === 486 || code === 600) return t('reason.busy');
  if (code === 487) return t('reason.cancelled');
  // Only an answer to a ringing callback (Replaces) gets 481: that ringing had already ended.
  if (code === 481) return STOPPED_WAITING;
  if (code === 488 || code === 606) return t('reason.noAudio');
  if (code === 503) return t('reason.serviceBusy');
  if (code >= 500) return t('reason.serverProblem', { code, phrase });
  return t('reason.serverAnswered', { code, phrase });
}

/**
 * The customer-facing reason of a refused INVITE: the server's reason code when it gave one
 * (Warning: 399 host "token_expired: The token has expired." or Reason: SIP;cause=403;text="token_expired"),
 * else the status code in words.
 */
export function reasonFromResponse(code, phrase, warning, reasonHeader) {
  const text = warning ? /"([^"]*)"/.exec(warning)?.[1] : null;
  const m = text ? /^([a-z_]+):\s*(.*)$/.exec(text) : null;
  if (m && TOKEN_REASONS[m[1]]) return TOKEN_REASONS[m[1]];
  const reasonCode = reasonHeader ? /;\s*text="([a-z_]+)"/.exec(reasonHeader)?.[1] : null;
  if (reasonCode && TOKEN_REASONS[reasonCode]) return TOKEN_REASONS[reasonCode];
  if (m && m[2]) return m[2].replace(/\.$/, '');
  if (text) return text.replace(/\.$/, '');
  return statusReason(code, phrase);
}

/** Why the microphone could not be opened, in words; null when it is not a microphone problem. */
function microphoneReason(err) {
  if (err?.name === 'NotAllowedError' || err?.name === 'SecurityError') return t('reason.micBlocked');
  if (err?.name === 'NotFoundError' || err?.name === 'OverconstrainedError') return t('reason.noMic');
  if (err?.name === 'NotReadableError' || err?.name === 'AbortError') return t('reason.micInUse');
  return null;
}

/**
 * Opens the microphone before any SIP is sent: the customer learns at once when it is blocked,
 * and the browser, once allowed to use it, offers all its network addresses to the call (without
 * that permission it offers only its default route, or mDNS names the media server cannot use).
 * Rejects with an Error whose message is the sentence for the customer.
 */
async function openMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error(t('reason.noCalls'));
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: false });
  } catch (err) {
    throw new Error(microphoneReason(err) ?? t('reason.micFailed'));
  }
}

/**
 * sip.js user agent options for the app's calls and its registration: WebSocket transport, this
 * microphone (none for the registration), no STUN lookups; `delegate` is the user agent's.
 */
export function userAgentOptions(SIP, { wsUrl, uri, microphone, delegate }) {
  return {
    uri,
    displayName: 'Customer',
    transportOptions: { server: wsUrl, connectionTimeout: CONNECT_TIMEOUT_SECONDS },
    logBuiltinEnabled: false,
    logLevel: 'error',
    // sip.js's Web session description handler, fed the microphone opened above.
    sessionDescriptionHandlerFactory: SIP.Web.defaultSessionDescriptionHandlerFactory(async () => microphone),
    sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 3000 },
    delegate,
  };
}

/**
 * The audio of an established sip.js session: plays the far end in `audio`, mutes the
 * microphone, and reports the media path breaking (ICE or DTLS failing, the network going).
 *
 * @param {any} session  a sip.js Inviter or Invitation in the Established state
 * @param {{ audio?: HTMLAudioElement|null, onMediaFailed: (reason: string) => void, onMediaState?: (text: string|null) => void }} opts
 */
function callMedia(session, opts) {
  const pc = session.sessionDescriptionHandler?.peerConnection;
  if (pc && opts.audio) {
    const stream = new MediaStream();
    for (const receiver of pc.getReceivers()) if (receiver.track) stream.addTrack(receiver.track);
    opts.audio.srcObject = stream;
    opts.audio.play().catch(() => {});
  }
  let connectedOnce = false;
  let unsteady = false;
  const onState = () => {
    const state = pc.connectionState;
    if (state === 'connected') {
      connectedOnce = true;
      opts.onMediaState?.(unsteady ? t('call.connectionBack') : null);
      unsteady = false;
    } else if (state === 'disconnected') {
      unsteady = true;
      opts.onMediaState?.(t('call.unsteady'));
    } else if (state === 'failed') {
      opts.onMediaFailed(connectedOnce ? 'the audio connection was lost' : 'the audio connection to the call server could not be set up (a firewall may be blocking it)');
    }
  };
  pc?.addEventListener('connectionstatechange', onState);
  if (pc) onState();
  return {
    /** Mutes or unmutes the microphone: while muted the adviser hears silence. */
    setMuted(muted) {
      for (const sender of pc?.getSenders() ?? []) if (sender.track) sender.track.enabled = !muted;
    },
    stop() {
      pc?.removeEventListener('connectionstatechange', onState);
      if (opts.audio) opts.audio.srcObject = null;
    },
  };
}

/**
 * Places the call. Returns controls; state changes arrive through the callbacks.
 *
 * @param {{ wsUrl: string, sipUri: string, token: string, deviceKey: CryptoKeyPair, audio: HTMLAudioElement, extraHeaders?: string[],
 *   onStatus: (text: string) => void, onEstablished: () => void, onEnded: (text: string) => void,
 *   onFailed: (reason: string) => void }} opts
 */
export function placeCall(opts) {
  let ua = null;
  let inviter = null;
  let media = null;
  let microphone = null;
  let finished = false;
  let established = false;
  let hungUpHere = false;
  let rejectedReason = null;
  let muted = false;

  const finish = (fn, text) => {
    if (finished) return;
    finished = true;
    media?.stop();
    for (const track of microphone?.getTracks() ?? []) track.stop();
    fn(text);
    Promise.resolve(ua?.stop()).catch(() => {});
  };
  const fail = (reason) => finish(opts.onFailed, reason);

  (async () => {
    let SIP;
    try {
      SIP = await import(SIP_JS);
    } catch {
      fail(t('reason.noSoftware'));
      return;
    }
    const target = SIP.UserAgent.makeURI(opts.sipUri);
    if (!target) {
      fail(t('reason.badAddress'));
      return;
    }
    opts.onStatus(t('call.openingMic'));
    try {
      microphone = await openMicrophone();
    } catch (err) {
      fail(err.message);
      return;
    }
    if (finished) {
      for (const track of microphone.getTracks()) track.stop();
      return;
    }
    for (const track of microphone.getTracks()) track.enabled = !muted;
    ua = new SIP.UserAgent(
      userAgentOptions(SIP, {
        wsUrl: opts.wsUrl,
        uri: SIP.UserAgent.makeURI(`sip:customer@${target.host}`),
        microphone,
        delegate: {
          onDisconnect: (error) => {
            if (!error || finished) return;
            fail(established ? t('reason.connectionLost') : t('reason.unreachable'));
          },
        },
      }),
    );

    opts.onStatus(t('call.connectingServer'));
    try {
      await ua.start();
    } catch {
      fail(t('reason.unreachable'));
      return;
    }
    if (finished) return;

    const created = new SIP.Inviter(ua, target, {
      // extraHeaders: e.g. Replaces when the call answers a callback ringing the app (incoming-call.js).
      extraHeaders: [`Authorization: Bearer ${opts.token}`, ...(opts.extraHeaders ?? [])],
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
    });
    // sip.js chose the Call-ID and From tag when it built the INVITE; sign them before it leaves.
    // Not yet `inviter`: a hang-up while signing simply stops, with nothing sent.
    const request = created.request;
    try {
      const proof = await signCallProof(opts.deviceKey, { token: opts.token, callId: request.callId, fromTag: request.fromTag });
      request.setHeader('Knock-Device-Proof', proof);
    } catch {
      fail(t('reason.noSignature'));
      return;
    }
    if (finished) return;
    inviter = created;
    inviter.stateChange.addListener((state) => {
      if (state === SIP.SessionState.Established) {
        established = true;
        media = callMedia(inviter, {
          audio: opts.audio,
          onMediaFailed: (reason) => {
            fail(reason);
            try {
              inviter.bye();
            } catch {
              // already ending
            }
          },
          onMediaState: (text) => text && opts.onStatus(text),
        });
        opts.onEstablished();
      } else if (state === SIP.SessionState.Terminated) {
        if (established) finish(opts.onEnded, hungUpHere ? t('call.youEnded') : t('call.adviserEnded'));
        // sip.js reports the rejection (onReject) just after this state change: read it then.
        else setTimeout(() => fail(rejectedReason ?? t('reason.endedUnanswered')), 0);
      }
    });

    opts.onStatus(t('call.callingShort'));
    try {
      await inviter.invite({
        requestDelegate: {
          onTrying: () => opts.onStatus(t('call.checking')),
          onProgress: () => opts.onStatus(t('call.serverVerified')),
          onReject: (response) => {
            const m = response.message;
            rejectedReason = reasonFromResponse(m.statusCode, m.reasonPhrase, m.getHeader('Warning'), m.getHeader('Reason'));
          },
        },
      });
    } catch (err) {
      fail(microphoneReason(err) ?? t('reason.notStarted', { detail: (language === 'en' && err?.message) || t('reason.unknown') }));
    }
  })();

  return {
    /** Ends the call (or stops it ringing). */
    hangUp() {
      hungUpHere = true;
      if (!inviter) {
        finish(opts.onEnded, t('call.youStopped'));
        return;
      }
      try {
        if (established) inviter.bye();
        else inviter.cancel();
      } catch {
        finish(opts.onEnded, t('call.youEnded'));
      }
    },
    /** Mutes or unmutes the microphone, before or during the call (the adviser's audio keeps coming). */
    setMuted(on) {
      muted = on;
      for (const track of microphone?.getTracks() ?? []) track.enabled = !on;
      media?.setMuted(on);
    },
  };
}
