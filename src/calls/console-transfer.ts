/**
 * The SIP side of a transfer asked for in the console (RFC 5589 §6 "blind transfer", with the
 * server as the transferor instead of the agent's phone): the `call.transfer` job finds the call
 * among this instance's live calls and has transferCall move it, exactly as a REFER from the
 * desk phone would — the session id vouches for the customer, the new agent is rung with
 * `X-Knock-Verified: …; via=session`, and on answer the first agent's leg gets BYE.
 *
 * The flows reach this through CallTransferPort, so the job runner never imports src/sip.
 */
import type { Agent } from '../domain/model.js';
import { AppError } from '../domain/errors.js';
import type { CallTransferOutcome, CallTransferPort, LiveCall } from '../flows/ports.js';
import type { ActiveCalls } from './customer-call-state.js';
import type { LocationService } from '../sip/location-service.js';
import { transferCall } from './transfer.js';

export function consoleTransfers(calls: ActiveCalls, locations: LocationService): CallTransferPort {
  return {
    find(sessionId: string): LiveCall | null {
      const call = calls.get(sessionId);
      if (!call || call.isEnded) return null;
      return { requestId: call.request.id, agentId: call.agent?.agent.id ?? null, transferring: call.transferring };
    },

    reachable: (agent: Agent) => locations.isRegistered(agent.extension),

    async transfer(sessionId: string, toAgent: Agent): Promise<CallTransferOutcome> {
      const call = calls.get(sessionId);
      if (!call || call.isEnded) return 'caller_gone';
      const from = call.agent;
      if (!from || call.transferring) throw new AppError('conflict', 'The call is not with an agent who can hand it over right now.');
      call.log.info({ fromAgentId: from.agent.id, toAgentId: toAgent.id }, 'console transfer started');
      return transferCall(call, from, toAgent, {
        how: 'console',
        // No phone to report to: the job reports progress on the live channel instead.
        report: (status, final) => {
          if (final) call.log.debug({ status }, 'console transfer finished');
        },
      });
    },
  };
}
