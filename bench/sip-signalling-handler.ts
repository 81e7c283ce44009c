/**
 * The application's customer call handler with media taken out, for the SIP benchmark: the same
 * token and device-proof reading, dialog binding, admitCustomerCall (signature, claims, single-use consume in
 * PostgreSQL, state move, audit), 401/403 refusals and customer lookup as
 * src/calls/customer-call.ts; then, where that handler anchors the caller in FreeSWITCH and
 * queues for an agent, this one answers 200 with a fixed SDP at once, and on BYE ends the call
 * request through callEnded as an abandoned call. Plugged into the running service's INVITE
 * router with onCustomerInvite, so routing, the drachtio connection and the store are the real
 * ones.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import { isAppError } from '../src/domain/errors.js';
import { admitCustomerCall, callEnded } from '../src/flows/call-session.js';
import type { FlowDeps } from '../src/flows/ports.js';
import { dialogIdOf, fromTagOf } from '../src/calls/customer-call.js';
import { bearerToken, deviceProof, refuseInvite } from '../src/sip/bearer-credentials.js';
import { newSessionId } from '../src/calls/customer-call-state.js';
import type { CustomerInviteHandler } from '../src/sip/invite-router.js';
import { BENCH_ANSWER_SDP } from './sip-answer-sdp.js';

export interface SignallingCounters {
  admitted: number;
  /** Calls whose callEnded has finished (or failed): the BYE work of a step is done when this reaches admitted. */
  ended: number;
  refused: Record<string, number>;
  endErrors: number;
  /** The first few callEnded failures' messages (no secrets: codes and state names). */
  endErrorSamples: string[];
  /** INVITE received -> 200 OK handed to drachtio-server, per admitted call, in ms. */
  answerMs: number[];
}

export function signallingOnlyHandler(deps: FlowDeps, srf: Srf, logger: Logger, counters: SignallingCounters): CustomerInviteHandler {
  return async (req, res) => {
    const t0 = performance.now();
    const token = bearerToken(req);
    let admitted;
    try {
      admitted = await admitCustomerCall(deps, {
        token,
        dialogId: dialogIdOf(req),
        callId: req.get('Call-ID') ?? '',
        fromTag: fromTagOf(req),
        deviceProof: deviceProof(req),
      });
    } catch (e) {
      if (!isAppError(e)) throw e;
      counters.refused[e.code] = (counters.refused[e.code] ?? 0) + 1;
      refuseInvite(res, e, deps.config.sip.domain);
      return;
    }
    counters.admitted++;
    // The real handler takes the customer's name and number for the agent's display from the
    // admission (read with the device), as this does.
    void admitted.customer;
    const sessionId = newSessionId();
    const dialog = await srf.createUAS(req, res, { localSdp: BENCH_ANSWER_SDP, headers: { 'Session-ID': `${sessionId};remote=${'0'.repeat(32)}` } });
    counters.answerMs.push(performance.now() - t0);
    dialog.on('destroy', () => {
      callEnded(deps, { requestId: admitted.request.id, sessionId: null, recordId: null, agentId: null, outcome: 'abandoned', known: admitted.request })
        .catch((e: unknown) => {
          counters.endErrors++;
          if (counters.endErrorSamples.length < 3) counters.endErrorSamples.push(e instanceof Error ? e.message : String(e));
          logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'bench: callEnded failed');
        })
        .finally(() => counters.ended++);
    });
  };
}
