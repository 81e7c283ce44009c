/**
 * Blind transfer from the agent's desk phone (RFC 3515 REFER, RFC 5589 call transfer):
 *
 *   agent A ── REFER Refer-To: <sip:1002@…> ──► here ── 202 Accepted, NOTIFY 100 Trying
 *   the session id vouches for the customer (verifySessionForTransfer, audited), agent B reserved
 *   customer ◄── hold music, agent B's phones ◄── INVITE (X-Knock-Verified: …; via=session)
 *   B answers ──► customer's FreeSWITCH channel re-bridged to B; NOTIFY 200 OK and BYE to A
 *   B does not ──► NOTIFY with B's failure; the customer goes back to A, or to the queue if A
 *                  has hung up meanwhile
 *
 * REFERs on an agent leg come here first: one whose Refer-To carries Replaces is an attended
 * transfer (attended-transfer.ts); the move itself is transfer.ts's `transferCall`, shared with
 * the other kinds of transfer.
 */
import type Srf from 'drachtio-srf';
import { attendedTransfer, replacesOf } from './attended-transfer.js';
import type { AgentLeg, CustomerCall } from './customer-call-state.js';
import { notify, referredAgent, transferCall } from './transfer.js';
import { sendResponse } from '../sip/sip-message.js';

/** Listens for REFER on an agent leg of a connected customer call. */
export function handleTransferRequests(call: CustomerCall, leg: AgentLeg): void {
  const onRefer = (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
    const referTo = req.has('Refer-To') ? req.get('Refer-To') : '';
    const handler = replacesOf(referTo) ? attendedTransfer : blindTransfer;
    void handler(call, leg, req, res).catch((e: unknown) => {
      call.log.error({ err: e instanceof Error ? e.message : String(e) }, 'transfer failed');
      if (!res.finalResponseSent) res.send(500);
    });
  };
  leg.dialog.on('refer', onRefer);
  // REFERs that came while the call was being connected, in the order they came.
  const early = leg.earlyRefers?.stop() ?? [];
  if (early.length) call.log.info({ agentId: leg.agent.id, refers: early.length }, 'REFER sent while the call was being connected: handled now');
  for (const [req, res] of early) onRefer(req, res);
}

async function blindTransfer(call: CustomerCall, from: AgentLeg, req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<void> {
  const referTo = req.has('Refer-To') ? req.get('Refer-To') : '';
  // Claimed before the first await: a second REFER or a console transfer gets no way in.
  const claim = call.agent === from ? call.claimTransfer() : null;
  if (!claim) {
    sendResponse(res, 491, 'Request Pending');
    return;
  }
  const toAgent = await referredAgent(call, referTo, claim);
  if (!toAgent) {
    sendResponse(res, 404, 'Not Found');
    return;
  }
  sendResponse(res, 202, 'Accepted');
  call.log.info({ fromAgentId: from.agent.id, toAgentId: toAgent.id }, 'blind transfer requested');
  await transferCall(call, from, toAgent, {
    how: 'blind',
    claim,
    report: (status, final) => notify(from.dialog, status, final),
  });
}

