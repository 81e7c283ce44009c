/**
 * Semi-attended transfer (RFC 5589 §7.3, "transfer before the target answers"): the agent has
 * called the target from the desk phone (the consultation) and refers the customer while that
 * call is still ringing, naming its early dialog in Replaces. What PBXs do, and this file does:
 *
 *   A ── REFER Refer-To: <sip:B@…?Replaces=<A's ringing consultation>> ──► here
 *     202 Accepted (attended-transfer.ts), NOTIFY 100 Trying
 *   the consultation's ringing ends: A's consultation INVITE ◄── 487, B's phone ◄── CANCEL
 *   then exactly a blind transfer to B (transfer.ts): the session id vouches for the customer,
 *     B reserved and rung again, now with the customer's identity and X-Knock-Verified …; via=session
 *   B answers ──► customer re-bridged to B; NOTIFY 200 OK and BYE to A
 *   B does not ──► NOTIFY with B's failure; the customer goes back to A, or to the queue when A
 *                  has hung up meanwhile
 *
 * The Refer-To names the target, as in a blind transfer; the Replaces only says which ringing
 * call to end.
 */
import type { AgentLeg, CustomerCall, TransferClaim } from './customer-call-state.js';
import type { RingingCall } from './ringing-calls.js';
import { referredAgent, transferCall, type TransferReport } from './transfer.js';

export async function semiAttendedTransfer(
  call: CustomerCall,
  from: AgentLeg,
  referTo: string,
  consultation: RingingCall,
  opts: { claim: TransferClaim; report: TransferReport },
): Promise<void> {
  const { claim, report } = opts;
  // The consultation stops ringing first: its phone can then be rung with the customer.
  const ended = await consultation.end();
  if (!ended) call.log.info('semi-attended transfer: the consultation was answered or ended meanwhile; transferring anyway');

  const toAgent = await referredAgent(call, referTo, claim);
  if (!toAgent) {
    report('100 Trying', false);
    report('404 Not Found', true);
    call.log.info({ referTo }, 'semi-attended transfer: Refer-To names no agent');
    return;
  }
  call.log.info({ fromAgentId: from.agent.id, toAgentId: toAgent.id }, 'semi-attended transfer requested');
  await transferCall(call, from, toAgent, { how: 'semi-attended', claim, report });
}
