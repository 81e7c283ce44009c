/**
 * Desk phone calls through this B2BUA that are still ringing: the caller's early dialog with
 * this server (RFC 3261 §12.1: Call-ID, the phone's From tag, and the To tag of our 180/183).
 * A semi-attended transfer (RFC 5589 §7.3, transfer before the consultation is answered) names
 * one in `Replaces` (RFC 3891 §3 lets Replaces match an early dialog the phone initiated), and
 * ends its ringing before the customer is sent to the phone that was being rung.
 */
import { namesDialog, type DialogIds } from './bridge-dialogs.js';
import { perConnection } from '../sip/per-connection.js';

export interface RingingCall {
  callId: string;
  /** The calling phone's From tag. */
  callerTag: string;
  /** The To tag this server put in its provisional response; null until one was sent. */
  localTag: string | null;
  /** The agent whose desk phone placed the call. */
  callerAgentId: string;
  /**
   * Ends the ringing as if the caller had cancelled, but answering the caller 487 itself: the
   * phones being rung get CANCEL. Resolves once they have all answered it (the ringing is over),
   * so the same phones can be rung again for something else. False when the call was answered
   * or ended meanwhile.
   */
  end(): Promise<boolean>;
}

export class RingingCalls {
  private readonly calls = new Set<RingingCall>();

  add(call: RingingCall): () => void {
    this.calls.add(call);
    return () => this.calls.delete(call);
  }

  /** The ringing call whose early dialog has these ids (tags in either order, as in bridge-dialogs). */
  find(ids: DialogIds): RingingCall | null {
    for (const call of this.calls) {
      if (call.localTag && namesDialog(ids, call.callId, call.localTag, call.callerTag)) return call;
    }
    return null;
  }
}

/** The desk phone calls ringing on this drachtio connection. */
export const ringingCalls = perConnection(() => new RingingCalls());
