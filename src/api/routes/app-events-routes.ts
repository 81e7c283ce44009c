/**
 * What the customer app needs besides the answers in app-routes.ts: its live channel (SSE of its
 * own requests' changes), the VAPID public key to subscribe to Web Push, the open callback slots,
 * and the sip.js modules its call screen loads.
 *
 * The live channel is read by the app with fetch() so the device credential travels in the
 * Authorization header (EventSource cannot send headers, and a credential in a URL ends up in
 * access logs).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { Router } from 'express';
import { AppError } from '../../domain/errors.js';
import { isLanguage, LANGUAGES } from '../../domain/language.js';
import type { FlowDeps } from '../../flows/ports.js';
import { openSlotsForDevice } from '../../flows/slots.js';
import { deviceOf, requestOf, requireDevice, requireDeviceRequest, wrap } from '../auth.js';
import { validated } from '../validate.js';
import { openLiveStream } from '../live-stream.js';

/**
 * Where an open app stream plugs in to receive its device's notifications: the app channel
 * (notify/app-channel.ts), handed over by the composition root. Declared here, so this adapter
 * needs nothing from src/notify but what it uses.
 */
export interface AppStreams {
  /** Notifications for the device go to `write` until the returned function is called. */
  attach(device: { id: string; customerId: string }, write: (payload: object) => void): () => void;
}

/** The sip.js package's ES modules, served as they are (no bundler). */
function sipJsDir(): string {
  return dirname(createRequire(import.meta.url).resolve('sip.js'));
}

/** `vapidPublicKey`: the pair the push channel signs with (configured, or the one kept in the database). */
export function appEventsRoutes(deps: FlowDeps, vapidPublicKey: string, appChannel?: AppStreams): Router {
  const r = Router();
  const device = requireDevice(deps);

  r.get('/api/v1/push/vapid-public-key', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json({ publicKey: vapidPublicKey });
  });

  r.get('/api/v1/app/events', device, (req, res) => {
    const customerId = deviceOf(res).customerId;
    // The app's language (its browser's Accept-Language) is kept for what reaches the customer
    // outside the app: push and SMS text.
    const language = req.acceptsLanguages(...LANGUAGES);
    if (isLanguage(language) && language !== deviceOf(res).language) {
      deps.store.devices.setLanguage(deviceOf(res).id, language).catch((e) => deps.logger.warn({ err: String(e) }, 'device language not saved'));
    }
    // An open app is a device seen (the console's "last seen"); the app channel's heartbeat keeps
    // the stamp fresh while the stream stays open, at most one write a minute per device.
    deps.store.devices.touch(deviceOf(res).id, deps.clock()).catch((e) => deps.logger.warn({ err: String(e) }, 'device last seen not saved'));
    // The customer's requests' changes, made on any instance; resumes after Last-Event-ID.
    openLiveStream(
      req,
      res,
      deps.events,
      // The app re-reads the request for what it shows; the event only says which and what.
      (e) => (e.type === 'request.changed' && e.customerId === customerId ? { type: 'request.changed', data: { requestId: e.requestId, state: e.state, at: e.at } } : null),
      // While the stream is open the app is reachable here: notifications (knocks, reminders…)
      // come down it as `notification`, with the payload a push would carry.
      (write) => appChannel?.attach(deviceOf(res), (payload) => write(`event: notification\ndata: ${JSON.stringify(payload)}\n\n`)) ?? (() => undefined),
    );
  });

  r.get('/api/v1/app/requests/:id/slots', requireDeviceRequest(deps), validated('appSlots'), wrap(async (req, res) => {
    // Slots cost CPU (business hours in the group's zone); the document caps limit at 200.
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    const request = requestOf(res);
    const after = typeof req.query.after === 'string' ? new Date(req.query.after) : undefined;
    res.json(await openSlotsForDevice(deps, deviceOf(res), request.id, limit, request, after));
  }));

  r.use(
    '/vendor/sip.js',
    (req, _res, next) => (req.path.endsWith('.js') ? next() : next(new AppError('not_found', `No such file: ${req.path}.`))),
    express.static(sipJsDir(), { index: false, maxAge: '1h' }),
  );
  return r;
}
