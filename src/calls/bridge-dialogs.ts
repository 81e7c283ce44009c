/**
 * Joins the two dialogs of a B2BUA call between desk phones (RFC 3261 §14 re-INVITE, §15 BYE):
 * a hang-up on one side ends the other; a re-INVITE (hold/unhold, codec change) is passed to the
 * other side and its answer returned; crossing re-INVITEs get 491 (RFC 3261 §14.1, see
 * reinvite-glare.ts); INFO (DTMF) is relayed.
 *
 * The joined calls are listed per drachtio connection so an attended transfer (RFC 5589 §7) can
 * find the consultation call a phone names in `Replaces` (RFC 3891 §3: Call-ID plus both tags
 * of that phone's dialog with this server) and take its other phone over.
 */
import type Srf from 'drachtio-srf';
import { perConnection } from '../sip/per-connection.js';
import type { Logger } from 'pino';
import { isUp } from './customer-call-state.js';
import { reinviteGate } from '../sip/reinvite-glare.js';

export type Side = 'caller' | 'callee';

export interface BridgedParty {
  dialog: Srf.Dialog;
  /** The agent whose desk phone this is, if any. */
  agentId: string | null;
}

export interface BridgeEnd {
  endedBy: Side | 'takeover';
  /** Agents who stay busy after the call: the other phone was taken into a customer call. */
  keepBusy: string[];
}

/** A live call between two desk phones through this B2BUA. */
export interface BridgedCall {
  caller: BridgedParty;
  callee: BridgedParty;
  ended: Promise<BridgeEnd>;
  /**
   * Stops joining the two dialogs without hanging either up: the caller of this now owns both.
   * `kept` is the party that stays in a call (its agent stays busy).
   */
  takeOver(kept: BridgedParty): void;
}

/** The dialog's Call-ID and tags as the phone at the far end knows them (RFC 3891 §3). */
export interface DialogIds {
  callId: string;
  tags: [string, string];
}

/** Whether `ids` name the dialog with this Call-ID and tags; phones differ on which tag they call from-tag. */
export function namesDialog(ids: DialogIds, callId: string, tagA: string, tagB: string): boolean {
  const [a, b] = ids.tags;
  return callId === ids.callId && ((a === tagA && b === tagB) || (a === tagB && b === tagA));
}

function matches(dialog: Srf.Dialog, ids: DialogIds): boolean {
  return namesDialog(ids, dialog.sip.callId, dialog.sip.localTag, dialog.sip.remoteTag);
}

export class BridgedCalls {
  private readonly calls = new Set<BridgedCall>();

  add(call: BridgedCall): void {
    this.calls.add(call);
  }

  remove(call: BridgedCall): void {
    this.calls.delete(call);
  }

  /** The call whose dialog with a phone has these ids, and which party that phone is. */
  find(ids: DialogIds): { call: BridgedCall; named: BridgedParty; other: BridgedParty } | null {
    for (const call of this.calls) {
      if (matches(call.caller.dialog, ids)) return { call, named: call.caller, other: call.callee };
      if (matches(call.callee.dialog, ids)) return { call, named: call.callee, other: call.caller };
    }
    return null;
  }
}

/** The desk phone calls joined on this drachtio connection. */
export const bridgedCalls = perConnection(() => new BridgedCalls());

/** SDP o= line: a re-INVITE repeating it unchanged is a session refresh, not a media change. */
function origin(sdp: string | undefined): string | null {
  return /^o=.*$/m.exec(sdp ?? '')?.[0].trim() ?? null;
}

export function bridgeDialogs(srf: Srf, caller: BridgedParty, callee: BridgedParty, log: Logger): BridgedCall {
  const registry = bridgedCalls(srf);
  let resolveEnded: (e: BridgeEnd) => void = () => undefined;
  const ended = new Promise<BridgeEnd>((r) => {
    resolveEnded = r;
  });
  let over = false;
  const detachers: Array<() => void> = [];
  const on = (d: Srf.Dialog, event: string, fn: (...args: any[]) => void) => {
    const emitter = d as unknown as NodeJS.EventEmitter;
    emitter.on(event, fn);
    detachers.push(() => emitter.removeListener(event, fn));
  };
  const finish = (e: BridgeEnd) => {
    if (over) return false;
    over = true;
    registry.remove(call);
    for (const off of detachers) off();
    resolveEnded(e);
    return true;
  };

  const call: BridgedCall = {
    caller,
    callee,
    ended,
    takeOver(kept) {
      if (finish({ endedBy: 'takeover', keepBusy: kept.agentId ? [kept.agentId] : [] })) log.info('desk phone call taken over by a transfer');
    },
  };

  const end = (by: Side, other: Srf.Dialog) => {
    if (!finish({ endedBy: by, keepBusy: [] })) return;
    if (isUp(other)) other.destroy();
    log.info({ endedBy: by }, 'desk phone call ended');
  };
  on(caller.dialog, 'destroy', () => end('caller', callee.dialog));
  on(callee.dialog, 'destroy', () => end('callee', caller.dialog));

  const relay = (from: Srf.Dialog, to: Srf.Dialog) => {
    // drachtio-srf stores the new offer as remote.sdp before emitting 'modify': keep the last
    // one that was answered to tell a refresh from a change.
    let answeredOffer = from.remote.sdp;
    on(from, 'modify', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
      const done = reinviteGate(from).admit(res);
      if (!done) return;
      const send = (status: number, body?: string) => {
        if (body) res.send(status, { body, headers: { 'Content-Type': 'application/sdp' } });
        else res.send(status);
        done();
      };
      // A session refresh (RFC 4028 §10: same SDP, or none) is answered here: nothing changed
      // for the other phone, whose own dialog has its own timer.
      if (!req.body || origin(req.body) === origin(answeredOffer)) {
        send(200, from.local.sdp);
        return;
      }
      // The other phone is itself mid re-INVITE towards us: the two cross (RFC 3261 §14.1).
      if (reinviteGate(to).answering || reinviteGate(to).sending) {
        send(491);
        return;
      }
      reinviteGate(to)
        .send(() => to.modify(req.body))
        .then((sdp: string) => {
          from.local.sdp = sdp;
          answeredOffer = req.body;
          send(200, sdp);
        })
        .catch((err: { status?: number }) => send(err.status && err.status >= 400 ? err.status : 500));
    });
    on(from, 'info', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
      const headers: Record<string, string> = {};
      if (req.has('Content-Type')) headers['Content-Type'] = req.get('Content-Type');
      to.request({ method: 'INFO', headers, body: req.body } as unknown as Srf.SrfRequest)
        .then((r: Srf.SrfResponse) => res.send(r.status))
        .catch(() => res.send(500));
    });
    on(from, 'refer', (_req: Srf.SrfRequest, res: Srf.SrfResponse) => {
      // Transfers between desk phones are not offered on internal calls.
      res.send(501);
    });
  };
  relay(caller.dialog, callee.dialog);
  relay(callee.dialog, caller.dialog);
  registry.add(call);
  return call;
}
