/**
 * One INVITE transaction at a time per dialog (RFC 3261 §14.1–14.2). A re-INVITE that arrives
 * while this server's own re-INVITE on the dialog is unanswered crosses it (glare): 491 Request
 * Pending, and the phone retries after a random pause. One that arrives while an earlier incoming
 * re-INVITE is still unanswered gets 500 with Retry-After, as §14.2 says.
 *
 * The gate is kept per dialog so every handler of that dialog (hold answered by FreeSWITCH, a
 * relay to the other phone, a transfer moving the phone to FreeSWITCH) sees the same state.
 */
import type Srf from 'drachtio-srf';
import { sendResponse, type SipResponse } from './sip-message.js';

export class ReinviteGate {
  private incoming = 0;
  private outgoing = 0;

  /** True while this server's re-INVITE on the dialog awaits its final response. */
  get sending(): boolean {
    return this.outgoing > 0;
  }

  /** True while a re-INVITE from the far end awaits our final response. */
  get answering(): boolean {
    return this.incoming > 0;
  }

  /**
   * Admits an incoming re-INVITE, or answers it (491 on glare, 500 + Retry-After on overlap)
   * and returns null. Call the returned function once the final response is sent.
   */
  admit(res: SipResponse): (() => void) | null {
    if (this.outgoing > 0) {
      sendResponse(res, 491, 'Request Pending');
      return null;
    }
    if (this.incoming > 0) {
      sendResponse(res, 500, 'Server Internal Error', { 'Retry-After': String(1 + Math.floor(Math.random() * 9)) });
      return null;
    }
    this.incoming++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.incoming--;
    };
  }

  /**
   * Runs an outgoing re-INVITE without crossing the far end's (RFC 3261 §14.1): while the far
   * end's own re-INVITE awaits our answer, or when ours got 491, it waits a random 2.1–4 s once
   * and tries again.
   */
  async sendAvoidingGlare<T>(fn: () => Promise<T>, pause: (ms: number) => Promise<void> = sleep): Promise<T> {
    let waited = false;
    if (this.answering) {
      await pause(glarePauseMs());
      waited = true;
    }
    try {
      return await this.send(fn);
    } catch (e) {
      if (waited || (e as { status?: number }).status !== 491) throw e;
      await pause(glarePauseMs());
      return this.send(fn);
    }
  }

  /** Runs one outgoing re-INVITE (dialog.modify) with the gate marked busy meanwhile. */
  async send<T>(fn: () => Promise<T>): Promise<T> {
    this.outgoing++;
    try {
      return await fn();
    } finally {
      this.outgoing--;
    }
  }
}

/** §14.1: the pause before retrying a re-INVITE that met glare, 2.1–4 s. */
export function glarePauseMs(): number {
  return 2100 + Math.floor(Math.random() * 1900);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const gates = new WeakMap<Srf.Dialog, ReinviteGate>();

export function reinviteGate(dialog: Srf.Dialog): ReinviteGate {
  let gate = gates.get(dialog);
  if (!gate) {
    gate = new ReinviteGate();
    gates.set(dialog, gate);
  }
  return gate;
}
