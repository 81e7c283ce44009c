/**
 * The customer's call: sip.js over WebSocket to the SIP server, audio only, with the
 * pre-authentication token in the INVITE as `Authorization: Bearer <token>` (RFC 8898) and the
 * device key's proof of possession as `Knock-Device-Proof` (signed over the token's jti, the
 * Call-ID and the From tag, so a copied token is useless on another device or call). The SIP
 * server checks both at call setup and answers 403 with a Warning naming why when it refuses.
 *
 * sip.js is loaded only when a call is placed (its ES modules are served at /vendor/sip.js/).
 * Every way a call can fail ends in one sentence for the customer (`onFailed(reason)`).
 */

import { signCallProof } from './device-key.js';

const SIP_JS = '/vendor/sip.js/index.js';
const CONNECT_TIMEOUT_SECONDS = 10;

/** Why the server refused the token, as the customer should hear it (codes from the server's Warning). */
const TOKEN_REASONS = {
  token_missing: 'the call server did not receive your verification',
  token_invalid: 'the call server did not accept your verification',
  token_expired: 'your verification expired before the call reached the call server',
  token_replayed: 'this verification was already used for another call',
  token_misbound: 'your verification belongs to a different device',
};

/** SIP status codes (RFC 3261 §21) in words. */
function statusReason(code, phrase) {
  if (code === 401) return TOKEN_REASONS.token_missing;
  if (code === 404 || code === 480) return 'no adviser is available right now';
  if (code === 408) return 'the call was not answered in time';
  if (code === 486 || code === 600) return 'the adviser is busy';
  if (code === 487) return 'the call was cancelled';
  if (code === 488 || code === 606) return 'this phone and the call server could not agree on audio';
  if (code === 503) return 'the call service is busy; try again in a moment';
  if (code >= 500) return `the call server had a problem (${code} ${phrase})`;
  return `the call server answered ${code} ${phrase}`;
}

/** The customer-facing reason of a refused INVITE: the Warning text when the server gave one. */
export function reasonFromResponse(code, phrase, warning) {
  // Warning: 399 knock.localhost "token_expired: The token has expired."
  const text = warning ? /"([^"]*)"/.exec(warning)?.[1] : null;
  if (text) {
    const m = /^([a-z_]+):\s*(.*)$/.exec(text);
    if (m && TOKEN_REASONS[m[1]]) return TOKEN_REASONS[m[1]];
    if (m && m[2]) return m[2].replace(/\.$/, '');
    return text.replace(/\.$/, '');
  }
  return statusReason(code, phrase);
}

function mediaReason(err) {
  if (err?.name === 'NotAllowedError') return 'the microphone is blocked for this app; allow it in the browser settings';
  if (err?.name === 'NotFoundError') return 'no microphone was found on this device';
  if (err?.name === 'NotReadableError') return 'the microphone is in use by another app';
  return null;
}

/**
 * Places the call. Returns controls; state changes arrive through the callbacks.
 *
 * @param {{ wsUrl: string, sipUri: string, token: string, deviceKey: CryptoKeyPair, displayName?: string, audio: HTMLAudioElement,
 *   onStatus: (text: string) => void, onEstablished: () => void, onEnded: (text: string) => void,
 *   onFailed: (reason: string) => void }} opts
 */
export function placeCall(opts) {
  let ua = null;
  let inviter = null;
  let finished = false;
  let established = false;
  let rejectedReason = null;

  const finish = (fn, text) => {
    if (finished) return;
    finished = true;
    fn(text);
    Promise.resolve(ua?.stop()).catch(() => {});
  };
  const fail = (reason) => finish(opts.onFailed, reason);

  (async () => {
    let SIP;
    try {
      SIP = await import(SIP_JS);
    } catch {
      fail('the calling software could not be loaded');
      return;
    }
    const target = SIP.UserAgent.makeURI(opts.sipUri);
    if (!target) {
      fail('the address to call is not valid');
      return;
    }
    ua = new SIP.UserAgent({
      uri: SIP.UserAgent.makeURI(`sip:customer@${target.host}`),
      displayName: opts.displayName || 'Customer',
      transportOptions: { server: opts.wsUrl, connectionTimeout: CONNECT_TIMEOUT_SECONDS },
      logBuiltinEnabled: false,
      logLevel: 'error',
      sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] } },
      delegate: {
        onDisconnect: (error) => {
          if (!error || finished) return;
          fail(established ? 'the connection to the call server was lost' : 'the call server could not be reached');
        },
      },
    });

    opts.onStatus('Connecting to the call server…');
    try {
      await ua.start();
    } catch {
      fail('the call server could not be reached');
      return;
    }
    if (finished) return;

    const created = new SIP.Inviter(ua, target, {
      extraHeaders: [`Authorization: Bearer ${opts.token}`],
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
    });
    // sip.js chose the Call-ID and From tag when it built the INVITE; sign them before it leaves.
    // Not yet `inviter`: a hang-up while signing simply stops, with nothing sent.
    const request = created.request;
    try {
      const proof = await signCallProof(opts.deviceKey, { token: opts.token, callId: request.callId, fromTag: request.fromTag });
      request.setHeader('Knock-Device-Proof', proof);
    } catch {
      fail('this device could not sign the call with its key');
      return;
    }
    if (finished) return;
    inviter = created;
    inviter.stateChange.addListener((state) => {
      if (state === SIP.SessionState.Established) {
        established = true;
        attachRemoteAudio(inviter, opts.audio);
        opts.onEstablished();
      } else if (state === SIP.SessionState.Terminated) {
        if (established) finish(opts.onEnded, 'The call has ended.');
        // sip.js reports the rejection (onReject) just after this state change: read it then.
        else setTimeout(() => fail(rejectedReason ?? 'the call ended before it was answered'), 0);
      }
    });

    opts.onStatus('Calling…');
    try {
      await inviter.invite({
        requestDelegate: {
          onTrying: () => opts.onStatus('Calling… the call server is checking your verification.'),
          onProgress: () => opts.onStatus('Verified by the call server. Waiting for an adviser…'),
          onReject: (response) => {
            const m = response.message;
            rejectedReason = reasonFromResponse(m.statusCode, m.reasonPhrase, m.getHeader('Warning'));
          },
        },
      });
    } catch (err) {
      fail(mediaReason(err) ?? `the call could not be started (${err?.message || 'unknown error'})`);
    }
  })();

  return {
    /** Ends the call (or stops it ringing). */
    hangUp() {
      if (!inviter) {
        finish(opts.onEnded, 'The call was stopped.');
        return;
      }
      try {
        if (established) inviter.bye();
        else inviter.cancel();
      } catch {
        finish(opts.onEnded, 'The call has ended.');
      }
    },
    /** Mutes or unmutes the microphone (the audio keeps flowing the other way). */
    setMuted(muted) {
      const pc = inviter?.sessionDescriptionHandler?.peerConnection;
      for (const sender of pc?.getSenders() ?? []) if (sender.track) sender.track.enabled = !muted;
    },
  };
}

function attachRemoteAudio(session, audio) {
  const pc = session.sessionDescriptionHandler?.peerConnection;
  if (!pc || !audio) return;
  const stream = new MediaStream();
  for (const receiver of pc.getReceivers()) if (receiver.track) stream.addTrack(receiver.track);
  audio.srcObject = stream;
  audio.play().catch(() => {});
}
