/**
 * A due callback in "agent calls" mode (SPEC core flow 1 step 4), placed outward when the flows
 * publish `callback.dial` (the callback job, or an agent taking the next callback):
 *
 *   reserved agent's desk phone ◄── INVITE (X-Knock-Reference, X-Knock-Callback)
 *     no answer / busy / not registered ──► callEnded: retry policy (callbackAttemptFailed)
 *   agent answers ──► hears hold music while the customer is called
 *   customer's app endpoint (the device's registered SIP contact) ◄── INVITE
 *     no answer / no registered device ──► agent hung up; callEnded: retry policy
 *   customer answers ──► both FreeSWITCH channels bridged; callbackConnected records the call
 *
 * The customer did not authenticate on this call, so no session is opened and the agent leg
 * says X-Knock-Verified: no.
 */
import type { Outcome } from '../domain/call-request.js';
import type { Device } from '../domain/model.js';
import { callEnded } from '../flows/call-session.js';
import { callbackConnected, callbackCustomerLegStarted } from '../flows/outbound-call.js';
import type { LiveEvent } from '../flows/ports.js';
import { answerEndpoint, bridgeEndpoints, openOfferingEndpoint, releaseEndpoint, startHoldMusic } from '../media/media-legs.js';
import { agentLegHeaders, ringAgent } from './agent-leg.js';
import { Abort, CustomerCall, hangUp, newSessionId, type CallContext, type Leg } from './customer-call-state.js';
import { ringTargets } from './ring-targets.js';

type DialEvent = Extract<LiveEvent, { type: 'callback.dial' }>;

/** Places every `callback.dial` the flows publish; returns the unsubscribe function. */
export function startOutboundCallbacks(ctx: CallContext): () => void {
  return ctx.deps.events.subscribe((event) => {
    if (event.type !== 'callback.dial') return;
    void placeCallback(ctx, event).catch((e: unknown) => {
      ctx.logger.error({ requestId: event.requestId, err: e instanceof Error ? e.message : String(e) }, 'scheduled callback failed');
    });
  });
}

export async function placeCallback(ctx: CallContext, event: DialEvent): Promise<void> {
  const { deps } = ctx;
  const log = ctx.logger.child({ component: 'outbound-callback', requestId: event.requestId });
  const request = await deps.store.callRequests.get(event.requestId);
  const agent = await deps.store.agents.get(event.agentId);
  const customer = await deps.store.customers.get(event.customerId);
  if (!request || !agent || !customer) return;
  const fail = async (outcome: Outcome, why: string) => {
    log.info({ outcome, why }, 'callback attempt did not connect');
    await callEnded(deps, { requestId: request.id, sessionId: null, recordId: null, agentId: agent.id, outcome });
  };
  const sessionId = newSessionId();
  const abort = new Abort();

  // 1. The reserved agent first.
  const headers = {
    ...agentLegHeaders({
      config: deps.config,
      request,
      verification: { customerName: customer.name, customerNumber: customer.phoneE164, authMethod: 'none', authenticatedAt: new Date(0) },
      sessionId,
      via: 'callback',
    }),
    'X-Knock-Callback': request.scheduledFor ? `scheduled; for=${request.scheduledFor.toISOString()}` : 'scheduled',
  };
  let agentRing;
  try {
    agentRing = await ringAgent(ctx, agent, headers, abort);
  } catch (e) {
    return fail('failed', e instanceof Error ? e.message : String(e));
  }
  if (agentRing.kind !== 'answered') return fail(agentRing.kind === 'gone' ? 'failed' : agentRing.outcome, 'agent did not answer');
  const agentLeg = agentRing.leg;
  log.info({ agentId: agent.id }, 'agent answered; calling the customer');
  startHoldMusic(agentLeg.endpoint, deps.config.media.holdMusic, log);
  agentLeg.dialog.on('destroy', () => abort.abort());
  const giveUp = async (outcome: Outcome, why: string) => {
    hangUp(agentLeg.dialog, 'customer not reached');
    await releaseEndpoint(agentLeg.endpoint);
    await fail(outcome, why);
  };

  // 2. The customer's app endpoint: every enrolled device with a registered SIP contact.
  const devices = (await deps.store.devices.listForCustomer(customer.id)).filter((d): d is Device & { sipContact: string } => !!d.sipContact);
  if (devices.length === 0) return giveUp('failed', 'no device of the customer is registered for calls');
  await callbackCustomerLegStarted(deps, request.id);
  const customerEp = await openOfferingEndpoint(ctx.media.mediaServer());
  let unregister: () => void = () => undefined;
  const ring = await ringTargets(
    ctx.srf,
    devices.map((d) => ({ uri: d.sipContact, proxy: null, agentId: null })),
    {
      sdp: customerEp.local.sdp,
      headers: {
        From: `"${deps.config.auth.webauthn.rpName}" <sip:callback@${deps.config.sip.domain}>`,
        'Session-ID': `${sessionId};remote=${'0'.repeat(32)}`,
        'X-Knock-Reference': request.reference.replace(/[\r\n]/g, ' '),
        'X-Knock-Agent': agent.name.replace(/[\r\n]/g, ' '),
      },
      timeoutSeconds: deps.config.sip.agentRingSeconds,
      onRinging: () => undefined,
      callerGone: () => abort.aborted,
      registerAbort: (fn) => {
        unregister = abort.onAbort(fn);
      },
    },
  );
  unregister();
  if (ring.kind !== 'answered') {
    await releaseEndpoint(customerEp);
    const outcome: Outcome = ring.kind === 'caller_gone' ? 'failed' : ring.status === 486 || ring.status === 600 ? 'busy' : ring.reason === 'No Answer' ? 'no_answer' : 'failed';
    return giveUp(outcome, 'customer did not answer');
  }
  const device = devices.find((d) => d.sipContact === ring.target.uri) ?? devices[0]!;
  const customerLeg: Leg = { dialog: ring.dialog, endpoint: customerEp };

  // 3. Bridge and record.
  const call = new CustomerCall(ctx, request, sessionId, customerLeg, null, 'outbound');
  call.agent = agentLeg;
  ctx.calls.add(call);
  call.watchCustomer();
  call.watchAgent(agentLeg);
  try {
    await answerEndpoint(customerEp, ring.dialog.remote.sdp);
    await bridgeEndpoints(customerEp, agentLeg.endpoint);
    const record = await callbackConnected(deps, { requestId: request.id, agentId: agent.id, deviceId: device.id });
    call.recordId = record.id;
    call.connected = true;
    log.info({ agentId: agent.id, deviceId: device.id }, 'callback connected');
  } catch (e) {
    log.error({ err: e instanceof Error ? e.message : String(e) }, 'callback could not be bridged');
    await call.end('failed', 'server');
  }
}
