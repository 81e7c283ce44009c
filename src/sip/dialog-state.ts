/**
 * A BYE that does not need drachtio-server to remember the dialog. drachtio-server holds every
 * dialog this service makes and sends in-dialog requests by its dialog id; a restarted
 * drachtio-server has forgotten them and refuses such a BYE, while the phone or app at the other
 * end (which never saw the outage) still has its leg up. So the dialog's state is kept when the
 * dialog is made (`dialogStateOf`, stored on the call's record) and, when the BYE by id is
 * refused, the BYE is written from it (`byeFromState`, RFC 3261 §12.2.1.1) and sent as a request
 * outside any dialog drachtio-server knows: drachtio-server lets an application set Call-ID,
 * From (with its tag), To (with its tag) and CSeq on such a request (makeTags in its
 * drachtio.cpp; sofia-sip's leg keeps a From tag it is given and takes the CSeq as given on a new
 * leg). It does not let an application set Route (nor Via): a dialog with a route set is sent to
 * its first hop (the `proxy` of the request) without Route headers, which a loose-routing proxy
 * forwards by the Request-URI (the remote target).
 */
import type Srf from 'drachtio-srf';
import type { SipDialogState } from '../domain/model.js';

/**
 * The BYE's CSeq: the highest RFC 3261 allows (below 2^31), as sofia-sip's own BYE for a stray
 * dialog uses. drachtio-server may have sent session refreshes in the dialog with numbers of its
 * own choosing, which this process never saw; a BYE with a lower CSeq than those would be
 * refused (§12.2.2, 500), and nothing follows a BYE in the dialog.
 */
export const LAST_CSEQ = 2 ** 31 - 1;

interface ParsedUri {
  uri: string;
}
interface SrfMessage {
  has(name: string): boolean;
  getParsedHeader(name: string): unknown;
}
/** drachtio-srf's Dialog, with the parts it keeps but does not type. */
interface DialogInternals {
  id: string;
  type: 'uas' | 'uac';
  sip: { callId: string; localTag: string; remoteTag: string };
  remote: { uri: string };
  req: SrfMessage;
  res: SrfMessage;
}

function routeUris(msg: SrfMessage): string[] {
  if (!msg.has('Record-Route')) return [];
  const parsed = msg.getParsedHeader('Record-Route') as ParsedUri[] | ParsedUri;
  return (Array.isArray(parsed) ? parsed : [parsed]).map((r) => r.uri);
}

/**
 * The dialog's state as a BYE from this side needs it: for a dialog this side answered (UAS),
 * the INVITE's To is our URI and its From theirs, the route set is its Record-Route in order;
 * for one this side started (UAC), the INVITE's From is ours, the 200's To theirs, and the route
 * set the 200's Record-Route reversed (RFC 3261 §12.1.1, §12.1.2).
 */
export function dialogStateOf(dialog: Srf.Dialog): SipDialogState {
  const d = dialog as unknown as DialogInternals;
  const uas = d.type === 'uas';
  const uriOf = (msg: SrfMessage, header: string) => (msg.getParsedHeader(header) as ParsedUri).uri;
  return {
    id: d.id,
    callId: d.sip.callId,
    localUri: uas ? uriOf(d.req, 'To') : uriOf(d.req, 'From'),
    localTag: d.sip.localTag,
    remoteUri: uas ? uriOf(d.req, 'From') : uriOf(d.res, 'To'),
    remoteTag: d.sip.remoteTag,
    remoteTarget: d.remote.uri,
    routeSet: uas ? routeUris(d.req) : routeUris(d.res).reverse(),
  };
}

interface SentInvite extends SrfMessage {
  uri: string;
  stackTxnId?: string;
  get(name: string): string;
}
type NameAddr = { uri: string; params: { tag?: string } };

/**
 * The early dialog a phone's 180/183 made with an INVITE this side sent (RFC 3261 §12.1.2), or
 * null when the response carries no To tag. A caller may end an early dialog with a BYE (§15),
 * which is how a ring is ended when its CANCEL can no longer be sent: a CANCEL must repeat the
 * INVITE's Via branch, which drachtio-server writes and a restarted one has forgotten.
 */
export function earlyDialogStateOf(invite: SentInvite, provisional: SrfMessage): SipDialogState | null {
  const to = provisional.getParsedHeader('To') as NameAddr;
  const from = invite.getParsedHeader('From') as NameAddr;
  if (!to?.params?.tag || !from?.params?.tag) return null;
  const contact = provisional.has('Contact') ? (provisional.getParsedHeader('Contact') as ParsedUri[])[0]?.uri : undefined;
  const callId = invite.get('Call-ID');
  return {
    // Named by its INVITE's transaction, as the record's sipInvites are: the two go together.
    id: invite.stackTxnId ?? `${callId};from-tag=${from.params.tag}`,
    callId,
    localUri: from.uri,
    localTag: from.params.tag,
    remoteUri: to.uri,
    remoteTag: to.params.tag,
    remoteTarget: contact ?? invite.uri,
    routeSet: routeUris(provisional).reverse(),
  };
}

/** The BYE's Request-URI and request options for drachtio-srf's `srf.request`. */
export function byeRequestFor(state: SipDialogState, reasonText: string): { uri: string; opts: { method: 'BYE'; headers: Record<string, string>; proxy?: string } } {
  return {
    uri: state.remoteTarget,
    opts: {
      method: 'BYE',
      headers: {
        'Call-ID': state.callId,
        From: `<${state.localUri}>;tag=${state.localTag}`,
        To: `<${state.remoteUri}>;tag=${state.remoteTag}`,
        CSeq: `${LAST_CSEQ} BYE`,
        Reason: `SIP;cause=200;text="${reasonText}"`,
      },
      ...(state.routeSet[0] ? { proxy: state.routeSet[0] } : {}),
    },
  };
}

interface SentRequest {
  on(event: 'response', fn: (res: { status: number }) => void): void;
}

/**
 * Sends the BYE written from the dialog's state; resolves with the peer's final status (200
 * when it ended its leg, 481 when it had no such dialog any more), or rejects when drachtio-server
 * could not send it.
 */
export function byeFromState(srf: Srf, state: SipDialogState, reasonText: string): Promise<number> {
  const { uri, opts } = byeRequestFor(state, reasonText);
  type Request = (uri: string, opts: object, cb: (err: unknown, req: SentRequest) => void) => void;
  return new Promise((resolve, reject) => {
    // The callback form: the peer's answer can follow drachtio-server's "sent" at once, in the
    // same read, so the listener is attached before a promise continuation could run.
    (srf as unknown as { request: Request }).request(uri, opts, (err, req) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      req.on('response', (res) => {
        if (res.status >= 200) resolve(res.status);
      });
    });
  });
}
