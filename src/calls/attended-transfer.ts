/**
 * Attended transfer from the agent's desk phone (RFC 5589 §7, REFER with Replaces, RFC 3891):
 *
 *   agent A, talking to the customer, holds them (re-INVITE, answered by FreeSWITCH) and calls
 *   agent B from the desk phone: a desk phone call through this B2BUA (extension-call.ts), the
 *   "consultation". Then:
 *   A ── REFER Refer-To: <sip:B@…?Replaces=<consultation Call-ID>;to-tag=…;from-tag=…> ──► here
 *     202 Accepted, NOTIFY 100 Trying
 *     Replaces names A's dialog with this server: the consultation call (bridge-dialogs.ts);
 *     still ringing ──► semi-attended transfer (semi-attended-transfer.ts)
 *     none ──► NOTIFY 481 (what the INVITE with Replaces would have got, RFC 3891 §3)
 *   the session id vouches for the customer (verifySessionForTransfer, audited)
 *   B's phone ◄── re-INVITE in the consultation dialog with a FreeSWITCH channel's SDP and the
 *     verification headers (X-Knock-Verified …; via=session, Session-ID)
 *   B answers ──► customer's FreeSWITCH channel bridged to B's; record moved (how: attended);
 *     NOTIFY 200 OK and BYE to A's customer leg; BYE to A's side of the consultation
 *   B refuses ──► NOTIFY with the failure; the customer goes back to A (or to the queue)
 *
 * Why a re-INVITE to B rather than a new INVITE with Replaces: B keeps the dialog it is already
 * in (no second ringing call, no dependence on B supporting RFC 3891), and every phone, and
 * sipp, accepts a re-INVITE that moves its media. B is not reserved or rung: it is already busy
 * in the consultation, and stays busy in the customer call.
 */
import type Srf from 'drachtio-srf';
import type { Agent } from '../domain/model.js';
import { answerEndpoint, openOfferingEndpoint, releaseEndpoint } from '../media/media-legs.js';
import type { RingAgentResult } from './agent-leg.js';
import { bridgedCalls, type BridgedParty } from './bridge-dialogs.js';
import { hangUp, type AgentLeg, type CallContext, type CustomerCall } from './customer-call-state.js';
import { reinviteGate } from '../sip/reinvite-glare.js';
import { ringingCalls } from './ringing-calls.js';
import { semiAttendedTransfer } from './semi-attended-transfer.js';
import { parseReplaces, sendResponse, type ReplacesTarget } from '../sip/sip-message.js';
import { notify, transferCall } from './transfer.js';

/** The dialog a Refer-To's Replaces names: Call-ID, to-tag, from-tag (RFC 3891 §6.1). */
export type Replaces = ReplacesTarget;

/** Reads `?Replaces=` from a Refer-To value (its URI headers are %-escaped, RFC 3261 §19.1.1). */
export function replacesOf(referTo: string): Replaces | null {
  const uri = /<([^>]*)>/.exec(referTo)?.[1] ?? referTo;
  const query = uri.split('?')[1];
  if (!query) return null;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).toLowerCase() !== 'replaces') continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return null;
    }
    const target = parseReplaces(value);
    // Both tags are needed to find the consultation dialog.
    return target && target.toTag && target.fromTag ? target : null;
  }
  return null;
}

/** Headers fit for a request inside an existing dialog: From/To/Call-ID belong to the dialog. */
function inDialogHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (!/^(from|to|call-id|cseq|contact)$/i.test(k)) out[k] = v;
  return out;
}

/** dialog.modify with headers (drachtio-srf accepts them; its typings do not say so). */
function modifyWithHeaders(dialog: Srf.Dialog, sdp: string, headers: Record<string, string>): Promise<string> {
  const modify = dialog.modify.bind(dialog) as unknown as (sdp: string, opts: { headers: Record<string, string> }) => Promise<string>;
  return modify(sdp, { headers });
}

/**
 * Moves the consultation's other phone onto a fresh FreeSWITCH channel: FreeSWITCH makes the
 * offer, the phone answers in its 200 to our re-INVITE.
 */
async function moveToMedia(ctx: CallContext, party: BridgedParty, agent: AgentLeg['agent'], headers: Record<string, string>): Promise<RingAgentResult> {
  const endpoint = await openOfferingEndpoint(ctx.media.mediaServer());
  try {
    const answer = await reinviteGate(party.dialog).sendAvoidingGlare(() => modifyWithHeaders(party.dialog, endpoint.local.sdp, inDialogHeaders(headers)));
    await answerEndpoint(endpoint, answer);
  } catch (e) {
    await releaseEndpoint(endpoint);
    const status = (e as { status?: number }).status ?? 500;
    return { kind: 'failed', outcome: 'failed', status };
  }
  return { kind: 'answered', leg: { agent, dialog: party.dialog, endpoint } };
}

export async function attendedTransfer(call: CustomerCall, from: AgentLeg, req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<void> {
  const { deps } = call.ctx;
  const replaces = replacesOf(req.get('Refer-To'));
  if (!replaces) {
    sendResponse(res, 400, 'Bad Request');
    return;
  }
  // Claimed before the first await: a second REFER or a console transfer gets no way in.
  const claim = call.agent === from ? call.claimTransfer() : null;
  if (!claim) {
    sendResponse(res, 491, 'Request Pending');
    return;
  }
  sendResponse(res, 202, 'Accepted');
  const report = (status: string, final: boolean) => notify(from.dialog, status, final);

  const ids = { callId: replaces.callId, tags: [replaces.toTag, replaces.fromTag] as [string, string] };
  const found = bridgedCalls(call.ctx.srf).find(ids);
  // Not answered yet (transfer while the consultation rings): semi-attended-transfer.ts.
  const ringing = found ? null : ringingCalls(call.ctx.srf).find(ids);
  if (ringing && ringing.callerAgentId === from.agent.id) {
    await semiAttendedTransfer(call, from, req.get('Refer-To'), ringing, { claim, report });
    return;
  }
  // Only the transferring agent's own consultation may be replaced, and only by an agent.
  let toAgent: Agent | null;
  try {
    toAgent = found && found.named.agentId === from.agent.id && found.other.agentId ? await deps.store.agents.get(found.other.agentId) : null;
  } catch (e) {
    call.releaseTransfer(claim);
    throw e;
  }
  if (!found || !toAgent) {
    call.releaseTransfer(claim);
    call.log.info({ found: !!found }, 'attended transfer: Replaces names no consultation call of this agent');
    report('100 Trying', false);
    report('481 Call/Transaction Does Not Exist', true);
    return;
  }
  call.log.info({ fromAgentId: from.agent.id, toAgentId: toAgent.id }, 'attended transfer requested');
  await transferCall(call, from, toAgent, {
    how: 'attended',
    claim,
    report,
    consultation: {
      reach: (headers) => moveToMedia(call.ctx, found.other, toAgent, headers),
      answered: () => {
        // The consultation is over for A; B's dialog now belongs to the customer call.
        found.call.takeOver(found.other);
        hangUp(found.named.dialog, 'transferred');
      },
    },
  });
}
