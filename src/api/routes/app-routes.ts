/**
 * The customer app's side of the API: device enrolment, and the three answers to a knock
 * (accept with biometric/PIN, schedule, remind me later), cancelling a scheduled callback, plus
 * the calendar entry.
 */
import { Router, type Request, type Response } from 'express';
import { AppError } from '../../domain/errors.js';
import { isLanguage, LANGUAGES } from '../../domain/language.js';
import type { CallRequest } from '../../domain/model.js';
import { beginAccept, completeAccept, type AcceptProof } from '../../flows/accept.js';
import {
  beginPasskeyEnrollment,
  enrollDevice,
  finishPasskeyEnrollment,
  setPushSubscription,
} from '../../flows/enrollment.js';
import { beginPinChange, changeDevicePin } from '../../flows/pin-change.js';
import { issueAppRegistration } from '../../flows/app-registration.js';
import { revokeDevice } from '../../flows/revocation.js';
import { normaliseOrigins, resolvedEndpointProblem } from '../../security/push-endpoint-policy.js';
import { cancelScheduledCallback } from '../../flows/customer-cancel.js';
import { policyFor } from '../../flows/group-policy.js';
import type { FlowDeps } from '../../flows/ports.js';
import { scheduleCallback, snoozeRequest } from '../../flows/schedule.js';
import { deviceOf, requestOf, requireDevice, requireDeviceRequest, wrap } from '../auth.js';
import { callbackIcs } from '../ics.js';
import { noStore } from '../security-headers.js';
import { idParam, validated } from '../validate.js';
import { appRequestView, deviceView } from '../views.js';

const requestId = (req: Request) => idParam(req, 'call request');

export function appRoutes(deps: FlowDeps): Router {
  const r = Router();
  const device = requireDevice(deps);
  const deviceRequest = requireDeviceRequest(deps);
  const allowedPushOrigins = normaliseOrigins(deps.config.notify.webpush.allowedEndpointOrigins);

  /** The request as `res`'s device sees it (its answers depend on which device accepted). */
  const view = async (request: CallRequest, res: Response) => {
    const agent = await deps.store.agents.get(request.agentId);
    return appRequestView(request, deviceOf(res).id, agent?.name ?? 'Your adviser', deps.clock(), deps.config.requests.remindChoicesMinutes);
  };

  r.post('/devices', noStore, validated('enrollDevice'), wrap(async (req, res) => {
    const { device: d, credential } = await enrollDevice(deps, {
      code: req.body.enrollmentCode,
      label: req.body.label,
      publicKeyJwk: req.body.publicKeyJwk,
      pin: req.body.pin ?? null,
      source: req.ip ?? req.socket.remoteAddress ?? 'unknown',
    });
    res.status(201).json({ device: deviceView(d), credential });
  }));
  r.get('/devices/me', device, wrap(async (_req, res) => {
    res.json(deviceView(deviceOf(res)));
  }));
  // The customer's devices, to revoke a lost one (or this one) from the app's settings.
  r.get('/devices', device, wrap(async (_req, res) => {
    const me = deviceOf(res);
    const list = await deps.store.devices.listForCustomer(me.customerId);
    res.json({ items: list.map((d) => ({ ...deviceView(d), current: d.id === me.id })) });
  }));
  r.delete('/devices/:id', device, wrap(async (req, res) => {
    const me = deviceOf(res);
    const id = idParam(req, 'device');
    await revokeDevice(deps, id, { actor: `device:${me.id}`, customerId: me.customerId, reason: id === me.id ? 'revoked by the customer on this device' : `revoked by the customer from device ${me.id}` });
    res.status(204).end();
  }));
  // A PIN change answers a fresh challenge: device key signature plus current PIN or passkey.
  r.post('/devices/me/pin/challenge', device, wrap(async (_req, res) => {
    res.json(await beginPinChange(deps, deviceOf(res)));
  }));
  r.put('/devices/me/pin', device, validated('setPin'), wrap(async (req, res) => {
    const { pin, challengeId, signature, currentPin, webauthn } = req.body;
    await changeDevicePin(deps, deviceOf(res), { pin, challengeId, signature, ...(currentPin !== undefined ? { currentPin } : {}), ...(webauthn !== undefined ? { webauthn } : {}) });
    res.status(204).end();
  }));
  r.put('/devices/me/push-subscription', device, validated('setPushSubscription'), wrap(async (req, res) => {
    // The service will POST to this URL: never to its own network (SSRF).
    const problem = await resolvedEndpointProblem(req.body.endpoint, allowedPushOrigins);
    if (problem) throw new AppError('validation_failed', `endpoint: ${problem}. Push endpoints must be https URLs of a public push service.`);
    await setPushSubscription(deps, deviceOf(res), { endpoint: req.body.endpoint, keys: req.body.keys });
    res.status(204).end();
  }));
  // The app registers for calls (agent-dialled callbacks): a single-use token for one REGISTER.
  r.post('/devices/me/sip-registration', device, noStore, wrap(async (_req, res) => {
    const issued = await issueAppRegistration(deps, deviceOf(res));
    res.json({ token: issued.token, expiresAt: issued.expiresAt.toISOString(), aor: issued.aor, wsUrl: issued.wsUrl, domain: issued.domain });
  }));
  r.post('/devices/me/passkey/options', device, wrap(async (_req, res) => {
    res.json(await beginPasskeyEnrollment(deps, deviceOf(res)));
  }));
  r.post('/devices/me/passkey', device, validated('registerPasskey'), wrap(async (req, res) => {
    await finishPasskeyEnrollment(deps, deviceOf(res), req.body.challengeId, req.body.response);
    res.status(204).end();
  }));

  r.get('/app/requests', device, wrap(async (_req, res) => {
    const list = await deps.store.callRequests.list({
      customerId: deviceOf(res).customerId,
      // agent_dialled: an adviser is calling back now; the app registers so it can ring.
      states: ['notified', 'snoozed', 'accepted', 'authenticated', 'expired', 'scheduled', 'prompted', 'agent_dialled'],
      limit: 50,
    });
    res.json({ items: await Promise.all(list.map((item) => view(item, res))) });
  }));
  r.get('/app/requests/:id', deviceRequest, wrap(async (_req, res) => {
    res.json(await view(requestOf(res), res));
  }));
  r.post('/app/requests/:id/accept', deviceRequest, wrap(async (req, res) => {
    res.json(await beginAccept(deps, deviceOf(res), requestId(req), requestOf(res)));
  }));
  r.post('/app/requests/:id/authenticate', deviceRequest, noStore, validated('appAuthenticate'), wrap(async (req, res) => {
    const proof: AcceptProof =
      req.body.method === 'biometric'
        ? { method: 'biometric', webauthn: req.body.webauthn }
        : { method: 'pin', pin: req.body.pin, signature: req.body.signature };
    res.json(await completeAccept(deps, deviceOf(res), requestId(req), req.body.challengeId, proof, requestOf(res)));
  }));
  r.post('/app/requests/:id/schedule', deviceRequest, validated('appSchedule'), wrap(async (req, res) => {
    const updated = await scheduleCallback(deps, deviceOf(res), requestId(req), new Date(req.body.at), req.body.note ?? null, requestOf(res));
    res.json({ ...(await view(updated, res)), calendar: `/api/v1/app/requests/${updated.id}/callback.ics` });
  }));
  r.post('/app/requests/:id/snooze', deviceRequest, validated('appSnooze'), wrap(async (req, res) => {
    res.json(await view(await snoozeRequest(deps, deviceOf(res), requestId(req), req.body.minutes, requestOf(res)), res));
  }));
  r.post('/app/requests/:id/cancel', deviceRequest, wrap(async (req, res) => {
    res.json(await view(await cancelScheduledCallback(deps, deviceOf(res), requestId(req), requestOf(res)), res));
  }));
  r.get('/app/requests/:id/callback.ics', deviceRequest, wrap(async (req, res) => {
    const request = requestOf(res);
    if (!request.scheduledFor || request.state !== 'scheduled') throw new AppError('not_found', 'This call is not scheduled.');
    const [agent, policy] = await Promise.all([deps.store.agents.get(request.agentId), policyFor(deps, request.groupId)]);
    // The app asks in its browser's language; English for any other.
    const language = req.acceptsLanguages(...LANGUAGES);
    const ics = callbackIcs(request, {
      agentName: agent?.name ?? (language === 'de' ? 'Ihr Berater' : 'Your adviser'),
      organisation: deps.config.branding.name,
      mode: policy.callbackMode,
      language: isLanguage(language) ? language : 'en',
      durationMinutes: 15,
      url: `${deps.config.server.publicUrl}/app/#/requests/${request.id}`,
      now: deps.clock(),
    });
    res.type('text/calendar; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="callback-${request.reference}.ics"`);
    res.send(ics);
  }));
  return r;
}
