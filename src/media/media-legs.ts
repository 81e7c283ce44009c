/**
 * What the call flows do with media, in FreeSWITCH terms: every SIP leg the application handles
 * is anchored in a FreeSWITCH channel (an Endpoint), and two channels are joined with
 * uuid_bridge. Because channels outlive their bridges (the dialplan sets park_after_bridge),
 * a customer's channel can be played hold music, bridged to an agent, and re-bridged to another
 * agent on a transfer without the customer's own call being touched.
 */
import type Srf from 'drachtio-srf';
import type Mrf from 'drachtio-fsmrf';
import type { Logger } from 'pino';
import type { MediaServer } from './freeswitch-connection.js';

export type MediaEndpoint = Mrf.Endpoint;

/**
 * Answers an incoming INVITE with FreeSWITCH's SDP (a WebRTC caller's DTLS handshake included):
 * the caller's media now ends in FreeSWITCH. `headers` go on the 200 OK to the caller.
 */
export async function anchorCaller(
  ms: MediaServer,
  req: Srf.SrfRequest,
  res: Srf.SrfResponse,
  headers: Record<string, string>,
): Promise<{ endpoint: MediaEndpoint; dialog: Srf.Dialog }> {
  // DTLS-SRTP (WebRTC) needs the caller and FreeSWITCH to complete the handshake while the
  // answer is sent, which drachtio-fsmrf's connectCaller does.
  if (/m=audio\s.*SAVP/.test(req.body ?? '')) return ms.connectCaller(req, res, { headers });
  // Plain RTP: the FreeSWITCH channel first, then the answer; a caller that has gone meanwhile
  // (CANCEL) must not leave the channel behind.
  const endpoint = await ms.createEndpoint({ remoteSdp: req.body });
  try {
    const dialog = await ms.srf.createUAS(req, res, { localSdp: endpoint.local.sdp, headers });
    return { endpoint, dialog };
  } catch (e) {
    await releaseEndpoint(endpoint);
    throw e;
  }
}

/**
 * A FreeSWITCH channel for calling out: FreeSWITCH makes the SDP offer (endpoint.local.sdp)
 * that the application puts in its INVITE to the far end; `answerEndpoint` completes it.
 */
export async function openOfferingEndpoint(ms: MediaServer): Promise<MediaEndpoint> {
  return ms.createEndpoint();
}

/** Gives an offering endpoint the far end's SDP answer, so media flows. */
export async function answerEndpoint(endpoint: MediaEndpoint, remoteSdp: string): Promise<void> {
  await endpoint.modify(remoteSdp);
}

/** Plays hold music (any FreeSWITCH playback target) until stopped or bridged. */
export function startHoldMusic(endpoint: MediaEndpoint, target: string, logger: Logger): void {
  // Not awaited: an endless stream completes only when broken off by stopHoldMusic or a bridge.
  endpoint.execute('playback', target).catch((e: unknown) => {
    logger.debug({ uuid: endpoint.uuid, err: e instanceof Error ? e.message : String(e) }, 'hold music stopped');
  });
}

export async function stopHoldMusic(endpoint: MediaEndpoint): Promise<void> {
  if (!endpoint.connected) return;
  await endpoint.api('uuid_break', [endpoint.uuid, 'all']);
}

/**
 * Joins two channels. Either may already be bridged elsewhere (a transfer): FreeSWITCH takes it
 * out of that bridge, and the channel left behind is parked, not hung up.
 */
export async function bridgeEndpoints(a: MediaEndpoint, b: MediaEndpoint): Promise<void> {
  await Promise.all([stopHoldMusic(a), stopHoldMusic(b)]);
  await a.bridge(b);
}

/** Takes one channel out of its bridge and parks it (the other side is parked too). */
export async function parkEndpoint(endpoint: MediaEndpoint): Promise<void> {
  if (!endpoint.connected) return;
  await endpoint.api('uuid_transfer', [endpoint.uuid, 'park', 'inline']);
}

/** Longest wait for FreeSWITCH to hang a channel up: one that died never answers, and nobody may wait on it. */
const RELEASE_WAIT_MS = 2000;

/** Hangs the FreeSWITCH channel up; a channel already gone, or a FreeSWITCH gone silent, is not an error. */
export async function releaseEndpoint(endpoint: MediaEndpoint | null | undefined): Promise<void> {
  if (!endpoint || !endpoint.connected) return;
  const release = async () => {
    // Applications on the channel run one after another: an endless hold music stream would
    // hold the hang-up back, so it is broken off first.
    await stopHoldMusic(endpoint);
    await endpoint.destroy();
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([release(), new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT_MS)))]);
  } catch {
    // FreeSWITCH already hung it up (e.g. it restarted)
  } finally {
    clearTimeout(timer);
  }
}
