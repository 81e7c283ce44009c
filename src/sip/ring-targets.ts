/**
 * Rings several SIP targets at once for one incoming INVITE (parallel forking, RFC 3261 §16.7
 * behaviour done by a B2BUA): every registered phone of an extension, or every member of a
 * ring-all group. The first to answer wins and the others are cancelled; a ring timeout cancels
 * all. The A leg is not answered here: the caller answers it with the winner's SDP.
 */
import type Srf from 'drachtio-srf';
import type { SipDialogState } from '../domain/model.js';
import { byeFromState, earlyDialogStateOf } from './dialog-state.js';
import { fromForConnection, transportOf } from './drachtio-addresses.js';

/**
 * A CANCEL is answered in milliseconds; one that is not answered in this time was not sent
 * (drachtio-server is gone): the ring is given up here instead of waiting for an answer that
 * cannot come, so its agent and FreeSWITCH channel are released.
 */
const CANCEL_WAIT_MS = 2000;
/** How long a ring given up that way waits for drachtio-server to come back and end it with a BYE. */
const LOST_RING_BYE_FOR_MS = 120_000;
/** A phone answers that BYE in milliseconds (over UDP, retransmitted at 0.5, 1, 2 s). */
const BYE_ANSWER_WAIT_MS = 4000;

export interface RingTarget {
  uri: string;
  /** Send the INVITE via this address (the phone's registration source, for NAT and TCP). */
  proxy: string | null;
  /** The agent whose phone this is, if any. */
  agentId: string | null;
  /** The registered binding rung, to mark it when it cannot be reached. */
  binding?: { extension: string; contact: string };
}

export type RingResult = (
  | { kind: 'answered'; dialog: Srf.Dialog; target: RingTarget }
  | { kind: 'failed'; status: number; reason: string }
  | { kind: 'caller_gone' }
) & {
  /** Targets the request could not reach at all (see `unreachable()`), known when it settled. */
  unreachable: RingTarget[];
};

/**
 * True when a request failed before any phone answered it: drachtio-server could not build or
 * send it (no SIP status), or its own SIP stack made up the answer (no network source address:
 * 503 when the address refuses, 410 when the phone's connection has closed, 408 when nothing
 * ever came back). A phone's own refusal has a source address; a 487 follows our CANCEL.
 */
export function unreachable(err: { status?: number; res?: { source_address?: string } }): boolean {
  if (!err.status) return true;
  return err.status !== 487 && !!err.res && !err.res.source_address;
}

export interface RingOptions {
  /** SDP offer for the B legs (the caller's offer). */
  sdp: string;
  headers: Record<string, string>;
  timeoutSeconds: number;
  /** Called once when any target rings (180/183). */
  onRinging?(): void;
  /**
   * Called with each 180/183 that carries SDP (early media, RFC 3960: the callee's ringback or an
   * announcement). Set it only when one target rings: with several, the final answer could come
   * from another target with other SDP than the caller already has.
   */
  onEarlyMedia?(status: number, sdp: string): void;
  /** Called with drachtio-server's transaction id of each INVITE as it goes out (a survivor may CANCEL it). */
  onSent?(stackTxnId: string): void;
  /** Called with the early dialog a phone's 180/183 made (a survivor may BYE it, dialog-state.ts). */
  onEarlyDialog?(state: SipDialogState): void;
  /** True once the caller has hung up (CANCEL); checked when the ringing settles. */
  callerGone(): boolean;
  /** Lets the caller abort the ringing (on CANCEL). */
  registerAbort(abort: () => void): void;
}

/** Ranks failure statuses: busy beats declined beats the rest (what the caller should hear). */
function worse(a: { status: number; reason: string } | null, b: { status: number; reason: string }): { status: number; reason: string } {
  const rank = (s: number) => (s === 486 || s === 600 ? 3 : s === 603 ? 2 : s === 487 ? 0 : 1);
  if (!a) return b;
  return rank(b.status) > rank(a.status) ? b : a;
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

interface SentRequest {
  stackTxnId?: string;
  uri: string;
  cancel(cb?: (err: unknown) => void): void;
  get(name: string): string;
  has(name: string): boolean;
  getParsedHeader(name: string): unknown;
}

/**
 * Whether each Srf's admin connection is up, as its 'close' and 'connect' events last said. A ring
 * is given up CANCEL_WAIT_MS after its CANCEL: drachtio-server can be back before that, and a BYE
 * that waited for the next 'connect' would then wait for an outage that never comes.
 */
const connectionUp = new WeakMap<Srf, { up: boolean }>();
function watchConnection(srf: Srf): { up: boolean } {
  let link = connectionUp.get(srf);
  if (!link) {
    const state = { up: true }; // a ring is only sent over a live connection
    const emitter = srf as unknown as NodeJS.EventEmitter;
    emitter.on('close', () => {
      state.up = false;
    });
    emitter.on('connect', (err: Error | null) => {
      if (!err) state.up = true;
    });
    connectionUp.set(srf, state);
    link = state;
  }
  return link;
}

/**
 * Ends a ring whose CANCEL could not be sent once drachtio-server is back (at once when it already
 * is): a BYE in the early dialog the phone's 180 made (dialog-state.ts), as RFC 3261 §15 lets the
 * caller do. A restarted drachtio-server has forgotten the INVITE's transaction, so a CANCEL
 * (which must match its Via branch) cannot be sent through it; a phone that sent no To tag (no
 * 180) cannot be reached.
 */
function byeWhenBack(srf: Srf, state: SipDialogState, back: boolean): void {
  const emitter = srf as unknown as NodeJS.EventEmitter;
  const bye = () => byeFromState(srf, state, 'Call ended while the signalling server was away');
  const send = () => {
    clearTimeout(timer);
    emitter.off('connect', send);
    // Tried once more if nothing answers: drachtio-server may still be settling just after it connected.
    const unanswered = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), BYE_ANSWER_WAIT_MS).unref());
    void Promise.race([bye(), unanswered]).catch(() => new Promise((r) => setTimeout(r, 1000).unref()).then(bye).catch(() => undefined));
  };
  const timer = setTimeout(() => emitter.off('connect', send), LOST_RING_BYE_FOR_MS);
  timer.unref();
  if (back) send();
  else emitter.on('connect', send);
}

export async function ringTargets(srf: Srf, targets: RingTarget[], opts: RingOptions): Promise<RingResult> {
  if (targets.length === 0) return { kind: 'failed', status: 480, reason: 'Temporarily Unavailable', unreachable: [] };
  let settled = false;
  let rang = false;
  let timedOut = false;
  const sent: Array<SentRequest | null> = targets.map(() => null);
  /** Per target: its INVITE got a final answer (or could not be sent). */
  const over: boolean[] = targets.map(() => false);
  /** Per target: the early dialog its 180/183 made, for a BYE if it cannot be CANCELled. */
  const early: Array<SipDialogState | null> = targets.map(() => null);
  const link = watchConnection(srf);
  let giveUp: (() => void) | null = null;
  const cancelAll = () => {
    for (const r of sent) {
      try {
        r?.cancel();
      } catch {
        // already answered or finished
      }
    }
    if (giveUp) setTimeout(giveUp, CANCEL_WAIT_MS).unref();
  };

  return new Promise<RingResult>((resolve) => {
    let pending = targets.length;
    let failure: { status: number; reason: string } | null = null;
    const timer = setTimeout(() => {
      timedOut = true;
      cancelAll();
    }, opts.timeoutSeconds * 1000);
    opts.registerAbort(() => {
      cancelAll();
    });

    const lost: RingTarget[] = [];
    const finish = (result: DistributiveOmit<RingResult, 'unreachable'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, unreachable: lost } as RingResult);
    };
    // The CANCELs went unanswered: drachtio-server is gone. What still rings is ended by a BYE
    // once it is back (an answer arriving meanwhile is hung up by the handler below).
    giveUp = () => {
      if (settled) return;
      for (const [i, state] of early.entries()) if (!over[i] && state) byeWhenBack(srf, state, link.up);
      if (opts.callerGone()) finish({ kind: 'caller_gone' });
      else finish({ kind: 'failed', status: 480, reason: 'No Answer' });
    };

    targets.forEach((target, i) => {
      const headers = { ...opts.headers };
      // Over a reused connection drachtio-server cannot rewrite a "localhost" From itself.
      if (headers.From) headers.From = fromForConnection(srf, headers.From, transportOf(target.proxy ?? target.uri));
      const uacOpts: Srf.CreateUACOptions = { localSdp: opts.sdp, headers };
      if (target.proxy) uacOpts.proxy = target.proxy;
      // drachtio-srf calls cbRequest(err, req); its typings say (req).
      const cbRequest = ((err: unknown, req?: SentRequest) => {
        if (err || !req) return;
        sent[i] = req;
        if (req.stackTxnId) opts.onSent?.(req.stackTxnId);
        if (settled || timedOut || opts.callerGone()) {
          try {
            req.cancel();
          } catch {
            // nothing to cancel
          }
        }
      }) as unknown as (req: Srf.SrfRequest) => void;
      const cbProvisional = (res: Srf.SrfResponse) => {
        const req = sent[i];
        if (req && !early[i]) {
          early[i] = earlyDialogStateOf(req, res as unknown as SentRequest);
          if (early[i]) opts.onEarlyDialog?.(early[i]!);
        }
        if (!rang && (res.status === 180 || res.status === 183)) {
          rang = true;
          opts.onRinging?.();
        }
        if ((res.status === 180 || res.status === 183) && res.body && opts.onEarlyMedia && !settled && !timedOut) {
          opts.onEarlyMedia(res.status, res.body);
        }
      };
      srf
        .createUAC(target.uri, uacOpts, { cbRequest, cbProvisional })
        .then((dialog) => {
          over[i] = true;
          if (settled || opts.callerGone()) {
            // Answered too late (another phone won, or the caller left): hang this one up.
            dialog.destroy();
            if (!settled) finish({ kind: 'caller_gone' });
            return;
          }
          finish({ kind: 'answered', dialog, target });
          sent[i] = null;
          cancelAll();
        })
        .catch((err: { status?: number; reason?: string; message?: string; res?: { source_address?: string } }) => {
          over[i] = true;
          if (unreachable(err)) lost.push(target);
          failure = worse(failure, { status: err.status ?? 480, reason: err.reason ?? 'Temporarily Unavailable' });
          if (--pending === 0) {
            if (opts.callerGone()) finish({ kind: 'caller_gone' });
            else if (timedOut) finish({ kind: 'failed', status: 480, reason: 'No Answer' });
            else finish({ kind: 'failed', ...(failure.status === 487 ? { status: 480, reason: 'Temporarily Unavailable' } : failure) });
          }
        });
    });
  });
}
